"""What the CPU can do natively, read from ``/proc/cpuinfo`` flags (light: no torch).

bfloat16 is fast on a CPU only with hardware support: AVX-512-BF16 (``avx512_bf16``: bf16 dot
products) or AMX (``amx_bf16``: bf16 tile matrix multiplies). Elsewhere torch emulates bf16 matmuls
in float32 and bf16 autocast is slower than fp32, so benchmarks and tests that are about bf16
speed ask :func:`native_bf16_reason` and skip with its answer.
"""

from __future__ import annotations

import functools
from pathlib import Path

BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@functools.lru_cache(maxsize=1)
def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> frozenset[str]:
    """The feature flags of the first processor listed (empty when the file is unreadable)."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):  # x86 / arm64
            return frozenset(value.split())
    return frozenset()


def native_bf16_flags(flags: frozenset[str] | None = None) -> list[str]:
    """The bf16 instruction sets this CPU has, e.g. ``["avx512_bf16", "amx_bf16"]``."""
    have = cpu_flags() if flags is None else flags
    return [flag for flag in BF16_FLAGS if flag in have]


def native_bf16_reason(flags: frozenset[str] | None = None) -> str | None:
    """None when bf16 runs natively here, else why not (for a skip message)."""
    have = cpu_flags() if flags is None else flags
    if native_bf16_flags(have):
        return None
    if not have:
        return "cannot tell whether this CPU has native bf16: /proc/cpuinfo has no flags line"
    return "this CPU has no native bf16 (neither avx512_bf16 nor amx_bf16 in /proc/cpuinfo): bf16 would be emulated"


def environment_facts() -> dict[str, object]:
    """What every result records about the CPU's bf16 support."""
    flags = native_bf16_flags()
    return {"cpu_bf16": {"native": bool(flags), "flags": flags}}
