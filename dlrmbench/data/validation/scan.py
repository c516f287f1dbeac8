"""One pass over a split's files: labels (0/1), numerical values (finite), and the id range of every
categorical feature.

Run when a dataset is opened, so that an id at or above its table size is refused before
training rather than crashing an embedding lookup halfway through. Reductions run over memory
maps in cache-sized chunks (numpy min/max), so a scan costs about one read of the files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from dlrmbench.data.binary import NUM_NUMERICAL, RECORD_BYTES, BinaryFile
from dlrmbench.data.errors import DatasetError
from dlrmbench.data.split import SplitFiles

CHUNK_BYTES = 1 << 20


@dataclass
class SplitScan:
    """What one pass over a split found."""

    samples: int
    positives: int
    id_min: list[int] = field(default_factory=list)
    id_max: list[int] = field(default_factory=list)

    @property
    def label_rate(self) -> float:
        return self.positives / self.samples if self.samples else 0.0


def _min_max(array: np.ndarray) -> tuple[int, int]:
    step = max(1, CHUNK_BYTES // array.itemsize)
    low, high = None, None
    for start in range(0, len(array), step):
        chunk = array[start:start + step]
        a, b = int(chunk.min()), int(chunk.max())
        low = a if low is None else min(low, a)
        high = b if high is None else max(high, b)
    return (0, -1) if low is None or high is None else (low, high)


def _first_at_least(array: np.ndarray, limit: int) -> int:
    step = max(1, CHUNK_BYTES // array.itemsize)
    for start in range(0, len(array), step):
        hits = np.flatnonzero(array[start:start + step] >= limit)
        if hits.size:
            return start + int(hits[0])
    return -1


def _first_below(array: np.ndarray, limit: int) -> int:
    step = max(1, CHUNK_BYTES // array.itemsize)
    for start in range(0, len(array), step):
        hits = np.flatnonzero(array[start:start + step] < limit)
        if hits.size:
            return start + int(hits[0])
    return -1


def _check_labels(where: str, labels: np.ndarray, offset_of: Callable[[int], int]) -> int:
    low, high = _min_max(labels)
    if low < 0 or high > 1:
        bad = _first_at_least(labels, 2) if high > 1 else _first_below(labels, 0)
        raise DatasetError(f"{where}: label of sample {bad} (byte offset {offset_of(bad)}) is {int(labels[bad])}; "
                           f"expected 0 or 1")
    return int(np.count_nonzero(labels)) if labels.dtype != np.bool_ else int(labels.sum())


def _check_numerical(where: str, numerical: np.ndarray, offset_of: Callable[[int, int], int]) -> None:
    """Refuse NaN and infinity in the numerical features: one would silently turn every score NaN."""
    rows = max(1, CHUNK_BYTES // max(1, numerical.itemsize * numerical.shape[1]))
    for start in range(0, len(numerical), rows):
        bad = ~np.isfinite(numerical[start:start + rows])
        if bad.any():
            i, f = (int(v) for v in np.argwhere(bad)[0])
            value = float(numerical[start + i, f])
            raise DatasetError(
                f"{where}: sample {start + i}, numerical feature {f} (byte offset {offset_of(start + i, f)}) is "
                f"{value}; numerical features must be finite (a NaN or infinity makes every prediction NaN). "
                "Fix the preprocessing (missing values become 0, counts are log-transformed)"
            )


def _check_ids(where: str, feature: int, ids: np.ndarray, table_size: int | None, low: int, high: int,
               offset_of: Callable[[int], int], key: str) -> None:
    if low < 0:
        i = _first_below(ids, 0)
        raise DatasetError(f"{where}: feature {feature} ({key}) sample {i} (byte offset {offset_of(i)}): "
                           f"id {int(ids[i])} is negative; expected ids in [0, {table_size or 'table size'})")
    if table_size is not None and high >= table_size:
        i = _first_at_least(ids, table_size)
        raise DatasetError(
            f"{where}: feature {feature} ({key}) sample {i} (byte offset {offset_of(i)}): id {int(ids[i])} is "
            f"at or above its table size {table_size}; expected ids in [0, {table_size - 1}] (largest id found: "
            f"{high}). Fix model_size.json / model.table_sizes, or set model.hash_indices to fold ids"
        )


def scan_split_files(files: SplitFiles, table_sizes: list[int] | None) -> SplitScan:
    """Check labels (0/1) and ids (``0 <= id < table size``; no upper check when sizes are None)."""
    from dlrmbench.data.model_size import feature_keys

    label, numerical, cats = files.memmaps()
    keys = feature_keys(len(cats))
    positives = _check_labels(str(files.paths[0]), label.view(np.uint8), lambda i: i)
    _check_numerical(str(files.paths[1]), numerical,
                     lambda i, f, k=files.num_numerical, w=2: (i * k + f) * w)
    scan = SplitScan(samples=files.samples, positives=positives)
    for f, ids in enumerate(cats):
        low, high = _min_max(ids)
        size = table_sizes[f] if table_sizes else None
        _check_ids(str(files.paths[2 + f]), f, ids, size, low, high, lambda i, w=ids.itemsize: i * w, keys[f])
        scan.id_min.append(low)
        scan.id_max.append(high)
    return scan


def scan_binary_file(file: BinaryFile, table_sizes: list[int] | None) -> SplitScan:
    """The same checks over a binary file's records, one column at a time."""
    from dlrmbench.data.model_size import feature_keys

    records = file.memmap()
    keys = feature_keys(records.shape[1] - 1 - NUM_NUMERICAL)
    positives = _check_labels(str(file.path), records[:, 0], lambda i: i * RECORD_BYTES)
    _check_numerical(str(file.path), records[:, 1:1 + NUM_NUMERICAL].view("<f4"),
                     lambda i, f: i * RECORD_BYTES + 4 * (1 + f))
    scan = SplitScan(samples=file.samples, positives=positives)
    step = max(1, (64 * CHUNK_BYTES) // RECORD_BYTES)
    cats = records[:, 1 + NUM_NUMERICAL:]
    low = np.full(cats.shape[1], np.iinfo(np.int64).max)
    high = np.full(cats.shape[1], np.iinfo(np.int64).min)
    for start in range(0, len(cats), step):
        chunk = cats[start:start + step]
        low = np.minimum(low, chunk.min(axis=0))
        high = np.maximum(high, chunk.max(axis=0))
    for f in range(cats.shape[1]):
        size = table_sizes[f] if table_sizes else None
        word = 1 + NUM_NUMERICAL + f
        _check_ids(str(file.path), f, cats[:, f], size, int(low[f]), int(high[f]),
                   lambda i, w=word: i * RECORD_BYTES + 4 * w, keys[f])
        scan.id_min.append(int(low[f]))
        scan.id_max.append(int(high[f]))
    return scan
