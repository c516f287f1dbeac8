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
