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
from dlrmbench.data.share import EpochRanges
from dlrmbench.data.split import SplitFiles

CHUNK_BYTES = 1 << 20


@dataclass
class SplitScan:
    """What one pass over a split found."""

    samples: int
    positives: int
    id_min: list[int] = field(default_factory=list)
    id_max: list[int] = field(default_factory=list)
    bytes: int = 0  # what the scan read (the arrays' bytes; whole records in a record format)

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


def _check_labels(where: str, labels: np.ndarray, offset_of: Callable[[int], int], base: int = 0) -> int:
    """``base``: the sample number of ``labels[0]`` (in messages and ``offset_of``)."""
    low, high = _min_max(labels)
    if low < 0 or high > 1:
        bad = _first_at_least(labels, 2) if high > 1 else _first_below(labels, 0)
        raise DatasetError(f"{where}: label of sample {base + bad} (byte offset {offset_of(base + bad)}) is "
                           f"{int(labels[bad])}; expected 0 or 1")
    return int(np.count_nonzero(labels)) if labels.dtype != np.bool_ else int(labels.sum())


def _check_numerical(where: str, numerical: np.ndarray, offset_of: Callable[[int, int], int], base: int = 0) -> None:
    """Refuse NaN and infinity in the numerical features: one would silently turn every score NaN."""
    rows = max(1, CHUNK_BYTES // max(1, numerical.itemsize * numerical.shape[1]))
    for start in range(0, len(numerical), rows):
        bad = ~np.isfinite(numerical[start:start + rows])
        if bad.any():
            i, f = (int(v) for v in np.argwhere(bad)[0])
            value = float(numerical[start + i, f])
            at = base + start + i
            raise DatasetError(
                f"{where}: sample {at}, numerical feature {f} (byte offset {offset_of(at, f)}) is "
                f"{value}; numerical features must be finite (a NaN or infinity makes every prediction NaN). "
                "Fix the preprocessing (missing values become 0, counts are log-transformed)"
            )


def _check_ids(where: str, feature: int, ids: np.ndarray, table_size: int | None, low: int, high: int,
               offset_of: Callable[[int], int], key: str, base: int = 0) -> None:
    if low < 0:
        i = base + _first_below(ids, 0)
        raise DatasetError(f"{where}: feature {feature} ({key}) sample {i} (byte offset {offset_of(i)}): "
                           f"id {int(ids[i - base])} is negative; expected ids in [0, {table_size or 'table size'})")
    if table_size is not None and high >= table_size:
        i = base + _first_at_least(ids, table_size)
        raise DatasetError(
            f"{where}: feature {feature} ({key}) sample {i} (byte offset {offset_of(i)}): id {int(ids[i - base])} is "
            f"at or above its table size {table_size}; expected ids in [0, {table_size - 1}] (largest id found: "
            f"{high}). Fix model_size.json / model.table_sizes, or set model.hash_indices to fold ids"
        )


def _whole(samples: int, ranges: EpochRanges | None, kind: str) -> tuple[tuple[int, int], ...]:
    """The sample ranges of ``kind`` to scan: every sample, or those ``ranges`` names."""
    if ranges is None:
        return ((0, samples),) if samples else ()
    return getattr(ranges, kind)


def scan_split_files(files: SplitFiles, table_sizes: list[int] | None,
                     ranges: EpochRanges | None = None) -> SplitScan:
    """Check labels (0/1), numerical values (finite) and ids (``0 <= id < table size``; no upper check when
    sizes are None) of every sample, or only of the sample ranges and features a rank reads (``ranges``:
    :meth:`~dlrmbench.data.share.BatchShare.epoch_ranges`). ``bytes``: what the scan read, counted as the
    reader counts its batches (the bytes of the arrays read)."""
    from dlrmbench.data.model_size import feature_keys

    label, numerical, cats = files.memmaps()
    keys = feature_keys(len(cats))
    labels = label.view(np.uint8)
    scan = SplitScan(samples=0, positives=0, id_min=[0] * len(cats), id_max=[-1] * len(cats))
    for a, b in _whole(files.samples, ranges, "label"):
        scan.positives += _check_labels(str(files.paths[0]), labels[a:b], lambda i: i, a)
        scan.samples += b - a
        scan.bytes += labels[a:b].nbytes
    for a, b in _whole(files.samples, ranges, "dense"):
        _check_numerical(str(files.paths[1]), numerical[a:b],
                         lambda i, f, k=files.num_numerical, w=numerical.itemsize: (i * k + f) * w, a)
        scan.bytes += numerical[a:b].nbytes
    features = range(len(cats)) if ranges is None or ranges.features is None else ranges.features
    for f in features:
        ids, size = cats[f], (table_sizes[f] if table_sizes else None)
        for a, b in _whole(files.samples, ranges, "ids"):
            low, high = _min_max(ids[a:b])
            _check_ids(str(files.paths[2 + f]), f, ids[a:b], size, low, high, lambda i, w=ids.itemsize: i * w,
                       keys[f], a)
            scan.id_min[f] = low if scan.id_max[f] < scan.id_min[f] else min(scan.id_min[f], low)
            scan.id_max[f] = max(scan.id_max[f], high)
            scan.bytes += ids[a:b].nbytes
    return scan


def scan_binary_file(file: BinaryFile, table_sizes: list[int] | None, ranges: EpochRanges | None = None) -> SplitScan:
    """The same checks over a binary file's records, one column at a time (``ranges``: only those samples and
    features; a record holds every column, so ``bytes`` counts whole records, as the reader does)."""
    from dlrmbench.data.model_size import feature_keys

    records = file.memmap()
    cats_all = records[:, 1 + NUM_NUMERICAL:]
    keys = feature_keys(cats_all.shape[1])
    scan = SplitScan(samples=0, positives=0, id_min=[0] * cats_all.shape[1], id_max=[-1] * cats_all.shape[1])
    spans: list[tuple[int, int]] = []
    for a, b in _whole(file.samples, ranges, "label"):
        scan.positives += _check_labels(str(file.path), records[a:b, 0], lambda i: i * RECORD_BYTES, a)
        scan.samples += b - a
        spans.append((a, b))
    for a, b in _whole(file.samples, ranges, "dense"):
        _check_numerical(str(file.path), records[a:b, 1:1 + NUM_NUMERICAL].view("<f4"),
                         lambda i, f: i * RECORD_BYTES + 4 * (1 + f), a)
        spans.append((a, b))
    features = list(range(cats_all.shape[1]) if ranges is None or ranges.features is None else ranges.features)
    step = max(1, (64 * CHUNK_BYTES) // RECORD_BYTES)
    for a, b in _whole(file.samples, ranges, "ids"):
        spans.append((a, b))
        low = np.full(len(features), np.iinfo(np.int64).max)
        high = np.full(len(features), np.iinfo(np.int64).min)
        for start in range(a, b, step):
            chunk = cats_all[start:min(b, start + step)]
            chunk = chunk if features == list(range(cats_all.shape[1])) else chunk[:, features]
            low = np.minimum(low, chunk.min(axis=0))
            high = np.maximum(high, chunk.max(axis=0))
        for j, f in enumerate(features):
            if b <= a:
                continue
            size = table_sizes[f] if table_sizes else None
            word = 1 + NUM_NUMERICAL + f
            _check_ids(str(file.path), f, cats_all[a:b, f], size, int(low[j]), int(high[j]),
                       lambda i, w=word: i * RECORD_BYTES + 4 * w, keys[f], a)
            scan.id_min[f] = int(low[j]) if scan.id_max[f] < scan.id_min[f] else min(scan.id_min[f], int(low[j]))
            scan.id_max[f] = max(scan.id_max[f], int(high[j]))
    scan.bytes = RECORD_BYTES * covered(spans)
    return scan


def covered(ranges: list[tuple[int, int]]) -> int:
    """Samples in the union of ``ranges``."""
    total, reach = 0, 0
    for a, b in sorted(ranges):
        if b > reach:
            total += b - max(a, reach)
            reach = b
    return total
