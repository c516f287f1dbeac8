"""LoadGen's ``mlperf_log_summary.txt`` read by the tests themselves, independently of dlrmbench's reader."""

from __future__ import annotations

import re
from pathlib import Path


def summary_fields(path: Path) -> dict[str, str]:
    """The summary file's ``key : value`` lines (the first of each key)."""
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        m = re.match(r"^\s*([^:]+?)\s*:\s*(.*?)\s*$", line)
        if m:
            out.setdefault(m[1], m[2])
    return out
