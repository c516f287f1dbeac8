"""Writing results atomically under ``results/<suite>/<run-id>/``; a failed write is fatal.

Each file is written to a temporary file in the same directory, flushed to disk and renamed
over its final name, so a reader never sees half a file and a crash never leaves one.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import secrets
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from dlrmbench.errors import UserError


def file_mode() -> int:
    """The mode a plain ``open()`` would give a new file: 0o666 less the process umask."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (temp file + fsync + rename), with the umask's mode.

    On any failure (a full disk, a read-only folder) the temporary file is removed and the
    original ``path``, if any, is left as it was; the OSError propagates.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, file_mode())  # mkstemp creates 0600; results are shared like any other file
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


def _json_name(value: float) -> str:
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def finite_json(data: Any) -> Any:
    """``data`` with every non-finite float made standard JSON (which has no NaN or Infinity).

    A metric (a mapping with ``value`` and ``unit``) gets ``value: null`` and the reason in its
    description; any other non-finite number becomes the string ``"NaN"``, ``"Infinity"`` or
    ``"-Infinity"``, which the result models read back as floats.
    """
    if isinstance(data, float):
        return data if math.isfinite(data) else _json_name(data)
    if isinstance(data, dict):
        value = data.get("value")
        if "unit" in data and isinstance(value, float) and not math.isfinite(value):
            note = f"not a finite number ({_json_name(value)}): recorded as null"
            description = str(data.get("description") or "")
            data = {**data, "value": None, "description": f"{description}; {note}" if description else note}
        return {k: finite_json(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [finite_json(v) for v in data]
    return data


def atomic_write_json(path: Path, data: BaseModel | dict[str, Any]) -> None:
    """Write ``data`` as standard JSON (no NaN literals: see :func:`finite_json`), atomically."""
    payload = data.model_dump(mode="json") if isinstance(data, BaseModel) else data
    atomic_write_text(path, json.dumps(finite_json(payload), indent=2, sort_keys=False, allow_nan=False) + "\n")


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


def check_output_dir(output: Path, option: str = "--output", what: str = "results directory") -> None:
    """Refuse, before anything runs, an ``--output`` (or ``option``) that is not a directory or cannot be
    written.

    Creates nothing: a directory that does not exist yet is checked through its nearest existing
    parent (the run creates it when it writes its first file).
    """
    if output.exists() and not output.is_dir():
        raise UserError(f"{option} {output}: exists and is not a directory; give a directory for the {what.split()[0]}")
    existing = output.absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing != output.absolute():
        if not existing.is_dir():
            raise UserError(f"{option} {output}: cannot create the {what}: {existing} is not a directory")
        if not os.access(existing, os.W_OK | os.X_OK):
            raise UserError(f"{option} {output}: cannot create the {what}: {existing} is not writable; "
                            "choose a writable directory")
        return
    try:
        fd, probe = tempfile.mkstemp(prefix=".dlrmbench-write-check-", dir=output)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise UserError(f"{option} {output}: cannot write there: {exc.strerror or exc}; "
                        "choose a writable directory") from None


def check_output_file(path: Path, option: str) -> None:
    """Refuse, before any work, a file output that cannot be written: a directory, or a folder that does
    not exist, is not a folder, or is not writable (creates nothing)."""
    if path.is_dir():
        raise UserError(f"{option} {path}: is a directory; give a file name")
    folder = path.absolute().parent
    if not folder.exists():
        raise UserError(f"{option} {path}: the directory {path.parent} does not exist; create it first")
    if not folder.is_dir():
        raise UserError(f"{option} {path}: {path.parent} is not a directory; give a file in a directory")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"{option} {path}: cannot write in {path.parent} (permission denied); choose another place")


def case_file_name(case: str, repeat: int, repeats: int) -> str:
    return f"{case}.json" if repeats == 1 else f"{case}.r{repeat}.json"
