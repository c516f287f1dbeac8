"""Writing results atomically under ``results/<suite>/<run-id>/``; a failed write is fatal.

Each file is written to a temporary file in the same directory, flushed to disk and renamed
over its final name, so a reader never sees half a file and a crash never leaves one.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from dlrmbench.errors import UserError


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (temp file + fsync + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_json(path: Path, data: BaseModel | dict[str, Any]) -> None:
    payload = data.model_dump(mode="json") if isinstance(data, BaseModel) else data
    atomic_write_text(path, json.dumps(payload, indent=2, sort_keys=False, allow_nan=True) + "\n")


def new_run_id(now: dt.datetime | None = None) -> str:
    """A sortable, unique run id: UTC time plus a random suffix."""
    now = now or dt.datetime.now(dt.timezone.utc)
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def run_directory(output: Path, suite_name: str, run_id: str) -> Path:
    """``output/suite/run_id``, refusing any path that would escape ``output``."""
    base = output.resolve()
    target = (base / suite_name / run_id).resolve()
    if base not in target.parents:
        raise UserError(f"suite name {suite_name!r} would write outside {output}; use a plain name")
    return target


def case_file_name(case: str, repeat: int, repeats: int) -> str:
    return f"{case}.json" if repeats == 1 else f"{case}.r{repeat}.json"
