"""Whether two results of a case read the same data: the fingerprints their readers took of every file they
opened (``environment.data``, :mod:`dlrmbench.data.watch`).

Files are matched by their name under the dataset folder (a copy elsewhere has the same names) and are the
same when their size and sampled digest are: the modification time is not compared (a copy that did not keep
its times is the same data, the split reader's rule). A result that recorded no fingerprints (synthetic data,
or written before they were recorded) is not judged.
"""

from __future__ import annotations

from typing import Any

from dlrmbench.results.schema import CaseResult

SHOWN = 3  # files named in a note; the rest are counted


def _files(result: CaseResult) -> dict[str, Any] | None:
    data = (result.environment or {}).get("data")
    files = data.get("files") if isinstance(data, dict) else None
    return files if isinstance(files, dict) else None


def data_difference(result: CaseResult, baseline: CaseResult) -> str | None:
    """How the data ``result`` read differs from what ``baseline`` read (None: the same, or not known)."""
    mine, theirs = _files(result), _files(baseline)
    if mine is None or theirs is None:
        return None
    changes = []
    for name in sorted(set(mine) | set(theirs)):
        a, b = mine.get(name), theirs.get(name)
        if not isinstance(a, dict) or not isinstance(b, dict):
            changes.append(f"{name} read on one side only")
        elif a.get("bytes") != b.get("bytes"):
            changes.append(f"{name} {_count(a.get('bytes'))} vs {_count(b.get('bytes'))} bytes")
        elif a.get("digest") != b.get("digest"):
            changes.append(f"{name} same size, other content (digest {str(a.get('digest'))[:8]} vs "
                           f"{str(b.get('digest'))[:8]})")
    if not changes:
        return None
    more = f" and {len(changes) - SHOWN} more" if len(changes) > SHOWN else ""
    return "read other data than the baseline: " + "; ".join(changes[:SHOWN]) + more


def _count(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)
