"""Number formatting shared by every view."""

from __future__ import annotations

import math


def fmt_value(value: float | None, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if unit == "samples/s":
        return f"{value:,.0f}"
    if unit in ("ms", "s", "min"):
        return f"{value:,.3g}" if value < 100 else f"{value:,.1f}"
    if unit == "":
        return f"{value:.4f}"
    return f"{value:,.4g}"


def fmt_ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}x"


def fmt_pct(value: float | None) -> str:
    return "—" if value is None else f"±{value * 100:.1f}%"


def fmt_energy(joules_per_sample: float | None) -> str:
    """Energy per sample in a readable unit (mJ or µJ per sample)."""
    if joules_per_sample is None or math.isnan(joules_per_sample):
        return "—"
    if joules_per_sample >= 1:
        return f"{joules_per_sample:.3g} J/sample"
    if joules_per_sample >= 1e-3:
        return f"{joules_per_sample * 1e3:.3g} mJ/sample"
    return f"{joules_per_sample * 1e6:.3g} µJ/sample"
