"""The worker's side of the progress channel: JSON events on stdout, one per line.

Lines start with a marker so that anything else a library prints is ignored by the parent. The
parent keeps every event, so a case that is killed still has what it measured.
"""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

MARKER = "@@dlrmbench "


class Reporter:
    """Sends events to the parent process (or collects them in memory when ``stream`` is None)."""

    def __init__(self, stream: TextIO | None = sys.stdout, rank: int = 0) -> None:
        self.stream = stream
        self.rank = rank
        self.events: list[dict[str, Any]] = []

    def emit(self, event: str, **fields: Any) -> None:
        record = {"event": event, "rank": self.rank, **fields}
        self.events.append(record)
        if self.stream is not None and self.rank == 0:
            self.stream.write(MARKER + json.dumps(record, default=float) + "\n")
            self.stream.flush()


def parse_event(line: str) -> dict[str, Any] | None:
    """The event on ``line``, or None if the line is not an event."""
    if not line.startswith(MARKER):
        return None
    try:
        value = json.loads(line[len(MARKER):])
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None
