"""Fingerprints of dataset files, recorded when a dataset is made and checked when it is used.

Memory-mapped files are read in place: one rewritten since it was made (a shorter copy, a rerun into the same
folder, an edit) would otherwise be used as it is now, short or different. The maker records each file's
size, modification time and a sampled digest; the reader refuses a file whose size differs, and one whose
modification time differs and whose sampled digest differs too (a copy made without keeping times, the usual
``cp``, keeps the digest and passes). The sampled digest reads :data:`SAMPLES` blocks of :data:`BLOCK` bytes
(first, last and evenly between), so a check costs a few hundred KiB per file. Stdlib only.

The writer's side is ``preproc/fingerprint.py`` (preproc imports nothing of dlrmbench); the rule is stated in
``preproc/FORMAT.md`` and ``tests/datasets/test_changed_data.py`` holds the two to the same records.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

SAMPLES = 8
BLOCK = 64 << 10


def sampled_digest(path: Path) -> str:
    """blake2b over the size and :data:`SAMPLES` blocks spread over the file."""
    size = path.stat().st_size
    digest = hashlib.blake2b(str(size).encode(), digest_size=16)
    with open(path, "rb") as handle:
        if size <= SAMPLES * BLOCK:
            digest.update(handle.read())
        else:
            for i in range(SAMPLES):
                handle.seek((size - BLOCK) * i // (SAMPLES - 1))
                digest.update(handle.read(BLOCK))
    return digest.hexdigest()


def record(path: Path) -> dict[str, Any]:
    """What is kept of one file when the dataset is made."""
    stat = path.stat()
    return {"bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns, "digest": sampled_digest(path)}


def change(path: Path, recorded: Any) -> str | None:
    """How ``path`` differs from its ``recorded`` fingerprint (None: unchanged, or nothing usable recorded)."""
    if not isinstance(recorded, dict) or not isinstance(recorded.get("bytes"), int):
        return None
    try:
        stat = path.stat()
    except OSError:
        return "it is gone"
    if stat.st_size != recorded["bytes"]:
        return f"{stat.st_size:,} bytes now, {recorded['bytes']:,} when it was made"
    if stat.st_mtime_ns == recorded.get("mtime_ns") or not isinstance(recorded.get("digest"), str):
        return None
    if sampled_digest(path) != recorded["digest"]:
        return "same size, but its content was rewritten after it was made (modified since, different bytes)"
    return None
