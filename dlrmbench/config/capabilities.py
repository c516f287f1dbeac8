"""Which precisions a device can run; light (no torch), used by the planner. The rules are the rows of
:data:`dlrmbench.precisions.PRECISIONS`."""

from __future__ import annotations

from dlrmbench.config.schema import Case
from dlrmbench.precisions import precision_reason


def precision_unavailable(case: Case, compute_capability: tuple[int, int] | None) -> str | None:
    """Why ``case.precision`` cannot run on ``case.device`` here, or None."""
    return precision_reason(case.precision, case.device, compute_capability)
