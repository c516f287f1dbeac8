"""``dlrmbench dataset inspect`` for the MLPerf DLRMv2 npy layout: days, rows, dtypes, label rate, ids.

Same report shape as :func:`dlrmbench.data.validation.inspect.inspect_dataset`. The scan reads the
files in chunks of :data:`CHUNK_ROWS` rows (bounded memory), counts non-0/1 labels and NaN/inf dense
values, and records each feature's id range; problems are collected, not raised.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dlrmbench.data.errors import DatasetError
from dlrmbench.data.mlperf_npy import NUM_SPARSE, Day, day_path, split_days
from dlrmbench.data.model_size import feature_keys
from dlrmbench.data.watch import fingerprint

CHUNK_ROWS = 1 << 20


def _scan(days: list[Day], root: Path, info: dict[str, Any], problems: list[str]) -> None:
    positives = rows = 0
    lo = np.full(NUM_SPARSE, np.iinfo(np.int64).max)
    hi = np.full(NUM_SPARSE, np.iinfo(np.int64).min)
    for day in days:
        bad_labels = bad_dense = 0
        for start in range(day.start, day.stop, CHUNK_ROWS):
            stop = min(start + CHUNK_ROWS, day.stop)
            labels = np.asarray(day.labels[start:stop]).reshape(-1)
            bad_labels += int(((labels != 0) & (labels != 1)).sum())
            positives += int((labels == 1).sum())
            rows += stop - start
            bad_dense += int((~np.isfinite(np.asarray(day.dense[start:stop]))).sum())
            sparse = np.asarray(day.sparse[start:stop])
            if len(sparse):
                lo = np.minimum(lo, sparse.min(axis=0))
                hi = np.maximum(hi, sparse.max(axis=0))
        if bad_labels:
            problems.append(f"{day_path(root, day.day, 'labels')}: {bad_labels:,} labels are not 0 or 1")
        if bad_dense:
            problems.append(f"{day_path(root, day.day, 'dense')}: {bad_dense:,} dense values are NaN or inf")
    info["label_rate"] = positives / rows if rows else None
    for f, feature in enumerate(info["features"]):
        if rows:
            feature["min_id"], feature["max_id"] = int(lo[f]), int(hi[f])


def inspect_mlperf_npy(path: Path, scan: bool = True) -> dict[str, Any]:
    """Describe an MLPerf npy dataset folder (splits as the reader makes them)."""
    report: dict[str, Any] = {"path": str(path), "format": "mlperf_npy", "table_sizes": None, "splits": {},
                              "problems": []}
    keys = feature_keys(NUM_SPARSE)
    for split in ("train", "test"):
        try:
            days = split_days(Path(path), split)
        except DatasetError as exc:
            report["splits"][split] = {}
            report["problems"].append(exc.message)
            continue
        files = []
        for day in days:
            for kind, arr in (("labels", day.labels), ("dense", day.dense), ("sparse", day.sparse)):
                p = day_path(Path(path), day.day, kind)
                files.append({"name": p.name, "bytes": p.stat().st_size, "dtype": f"{arr.dtype} x {arr.shape[1]}",
                              "samples": int(arr.shape[0]), **fingerprint(p)})
            multi = day_path(Path(path), day.day, "multi_hot")
            if multi.is_file():
                files.append({"name": multi.name, "bytes": multi.stat().st_size, "dtype": "npz int32 x 26 members",
                              "samples": int(day.labels.shape[0]), **fingerprint(multi)})
        info: dict[str, Any] = {"samples": sum(d.rows for d in days), "days": [d.day for d in days], "files": files,
                                "features": [{"feature": f, "key": keys[f], "dtype": "int32", "table_size": None}
                                             for f in range(NUM_SPARSE)]}
        if split == "test":
            info["rows_used"] = "first half (rounded up) of the last day, the reference's validation set"
        if scan:
            _scan(days, Path(path), info, report["problems"])
        report["splits"][split] = info
    report["ok"] = not report["problems"]
    return report
