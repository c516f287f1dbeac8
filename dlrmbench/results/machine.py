"""Which machine class a result set ran on: a short id hashed from its environment fingerprint."""

from __future__ import annotations

import hashlib
from typing import Any


def machine_id(env: dict[str, Any]) -> str:
    """A short, stable id of the machine class an environment fingerprint describes: the hashed host name,
    CPU model and count, memory and GPU models. Result sets with the same id ran on the same machine, so
    its stored run-to-run variation and its history series apply to both."""
    gpus = ",".join(str(g.get("name")) for g in env.get("gpus") or [] if isinstance(g, dict))
    key = "|".join(str(env.get(k)) for k in ("hostname_sha256", "cpu", "cpu_count", "memory_bytes")) + "|" + gpus
    return hashlib.sha256(key.encode()).hexdigest()[:16]
