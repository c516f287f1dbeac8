"""Whether a case's throughput is set against its published reference, and the label when it is not (no
imports: the planner, the runner's progress and every report use it)."""

from __future__ import annotations

from typing import Any, Mapping


def why_not_comparable(config: Mapping[str, Any]) -> str | None:
    """The label of a case (its config, as recorded) whose throughput is not set against the reference:
    "not comparable: " and the dataset plugin's ``not_comparable`` reason, else "scaled down: not comparable";
    None when it is comparable."""
    if config.get("comparable", True):
        return None
    reason = config.get("not_comparable")
    return f"not comparable: {reason}" if reason else "scaled down: not comparable"
