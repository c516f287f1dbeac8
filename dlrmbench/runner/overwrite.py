"""Refusing to overwrite files dlrmbench did not write: a case's ``checkpoint.save`` and ``mlperf_log.path``.

Checked in the parent before anything runs (no torch): an existing file is replaced only when it
is one dlrmbench wrote (a dlrmbench checkpoint; an MLPerf log written by dlrmbench's logger), or
when ``dlrmbench run --overwrite`` says so.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

from dlrmbench.config.schema import Case

CHECKPOINT_FORMAT = b"dlrmbench-checkpoint-1"  # dlrmbench.workload.checkpoint.FORMAT, pickled as text
_SNIFF_BYTES = 1 << 20


def is_dlrmbench_checkpoint(path: Path) -> bool:
    """True for a torch zip archive whose pickle names the dlrmbench checkpoint format."""
    try:
        with zipfile.ZipFile(path) as archive:
            pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
            if not pickles:
                return False
            with archive.open(pickles[0]) as handle:
                return CHECKPOINT_FORMAT in handle.read(_SNIFF_BYTES)
    except (OSError, zipfile.BadZipFile, ValueError, RuntimeError):
        return False


# The modules whose ``init_start`` writes a log's first line: the ``dlrm`` and ``dlrm_dcnv2`` writers.
MLLOG_WRITERS = ("mlperf_log.py", "dcnv2_log.py")


def is_dlrmbench_mlperf_log(path: Path) -> bool:
    """True when the first line is an ``:::MLLOG`` record logged from dlrmbench's MLPerf logger."""
    try:
        with open(path, "rb") as handle:
            first = handle.readline(64 * 1024).decode("utf-8", errors="replace")
    except OSError:
        return False
    if not first.startswith(":::MLLOG "):
        return False
    try:
        record = json.loads(first[len(":::MLLOG "):])
    except ValueError:
        return False
    where = str((record.get("metadata") or {}).get("file", "")) if isinstance(record, dict) else ""
    return "dlrmbench" in where and where.endswith(MLLOG_WRITERS)


def _unwritable_folder(path: Path) -> str | None:
    """Why no file can be created at ``path`` (its nearest existing folder is a file or not writable), or None."""
    existing = path.absolute().parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is not a directory"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{existing} is not writable"
    return None


def overwrite_problems(cases: list[Case]) -> list[str]:
    """One message per case output that would replace a file dlrmbench did not write."""
    from dlrmbench.config.paths import case_path, in_result_set

    problems = []
    for case in cases:
        outputs = []
        if case.checkpoint is not None and case.checkpoint.save:
            outputs.append(("checkpoint.save", case_path(case.checkpoint.save, case), is_dlrmbench_checkpoint))
        if case.mlperf_log is not None and not in_result_set(case.mlperf_log.path):
            outputs.append(("mlperf_log.path", case_path(case.mlperf_log.path, case), is_dlrmbench_mlperf_log))
        for field, path, ours in outputs:
            folder = _unwritable_folder(path)
            if folder:
                problems.append(f"case {case.name}: {field} {path} cannot be written ({folder}); give a path in a "
                                "directory you can write")
            elif path.is_dir():
                problems.append(f"case {case.name}: {field} {path} is a directory; give a file path")
            elif path.exists() and not ours(path):
                problems.append(f"case {case.name}: {field} {path} exists and was not written by dlrmbench; "
                                "refusing to overwrite it (move it away, change the path, or pass --overwrite)")
    return problems
