"""Atomic file writes: temp file + rename, so a crash never leaves a truncated file that looks finished."""

from __future__ import annotations

import errno
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any, Iterable


def write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` via a temp file in the same directory and an atomic rename."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write_json(path: Path, obj: Any) -> None:
    """Atomically write `obj` as indented JSON (key order kept)."""
    write_bytes(path, (json.dumps(obj, indent=2) + "\n").encode())


def read_json(path: Path) -> Any:
    """Read a JSON file."""
    with open(path) as fh:
        return json.load(fh)


def read_json_or_none(path: Path) -> Any:
    """Read a JSON file; None if it is missing or not valid JSON (an unfinished write)."""
    try:
        return read_json(path)
    except (OSError, ValueError):
        return None


def concatenate(parts: Iterable[Path], path: Path) -> int:
    """Concatenate `parts` in order into `path` atomically; returns the byte count."""
    tmp = path.with_name(path.name + ".tmp")
    total = 0
    with open(tmp, "wb") as out:
        for part in parts:
            with open(part, "rb") as src:
                shutil.copyfileobj(src, out, 16 << 20)
            total += part.stat().st_size
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    return total


def remove(path: Path, settle_s: float = 10.0) -> None:
    """Remove a file or directory tree if it exists.

    A tree that gains a file while it is removed (``Directory not empty``: a Spark task of a cancelled job
    still writing its chunk, which Spark kills within seconds) is tried again for up to ``settle_s``."""
    deadline = time.monotonic() + settle_s
    while True:
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.exists() or path.is_symlink():
                path.unlink()
            return
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST) or time.monotonic() > deadline:
                raise
            time.sleep(0.2)
