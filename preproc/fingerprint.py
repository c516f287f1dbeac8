"""Fingerprints of the split files written (FORMAT.md, ``outputs`` of preprocess.json): size, modification time
and a sampled digest, so that the readers can tell a file changed since it was written from a copy.

One rule for both sides: preprocess records with it, and dlrmbench's split reader (``dlrmbench.data.split``)
checks with it. Stdlib only, so importing it costs the reader nothing; preproc itself imports no dlrmbench.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

SAMPLES = 8
BLOCK = 64 << 10


def sampled_digest(path: Path) -> str:
    """blake2b (16 bytes) over the decimal size and :data:`SAMPLES` blocks of :data:`BLOCK` bytes, the first at
    0, the last ending at the end, the rest evenly between (the whole file when it is smaller than them)."""
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
    """What preprocess.json keeps of one written file."""
    stat = path.stat()
    return {"bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns, "digest": sampled_digest(path)}


def change(path: Path, recorded: Any, when: str = "made") -> str | None:
    """How ``path`` differs from its ``recorded`` fingerprint (None: unchanged, or nothing usable recorded).

    The rule: another size is a change; the same modification time is no change (the digest is not read);
    another modification time is a change only when the digest differs too (a copy that did not keep times
    passes). ``when``: what was done to the file when it was recorded ("made", "opened")."""
    if not isinstance(recorded, dict) or not isinstance(recorded.get("bytes"), int):
        return None
    try:
        stat = path.stat()
    except OSError:
        return "it is gone"
    if stat.st_size != recorded["bytes"]:
        return f"{stat.st_size:,} bytes now, {recorded['bytes']:,} when it was {when}"
    if stat.st_mtime_ns == recorded.get("mtime_ns") or not isinstance(recorded.get("digest"), str):
        return None
    if sampled_digest(path) != recorded["digest"]:
        return f"same size, but its content was rewritten after it was {when} (modified since, different bytes)"
    return None
