"""Reader of the MLPerf preprocessed Criteo 1TB layout (imports torch); see :mod:`dlrmbench.data.mlperf_npy`.

Batches run across day boundaries in day order (the reference's buffering), the last one may be
partial (reference: ``drop_last`` False). Ids are hashed ``% rows`` of their table (the reference
does the same with ``--num_embeddings_per_feature``), so ids are always in range.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from dlrmbench.data.mlperf_npy import Day, check_values, day_files, day_path, days_present, split_days
from dlrmbench.batch import Batch, SparseFeatures
from dlrmbench.data.raw import ReadCounter
from dlrmbench.data.share import BatchShare
from dlrmbench.data.watch import FileWatch, data_record
from dlrmbench_plugins.datasets._multihot import MultiHotExpander
from dlrmbench_plugins.datasets.files import splits_needed
from dlrmbench_plugins.datasets.mlperf_npy import MlperfNpyOptions, table_sizes


class MlperfNpyStream:
    """The batches of one split, re-iterable, ``len()`` = batches per epoch."""

    def __init__(self, days: list[Day], batch_size: int, sizes: list[int], multi_hot: str,
                 expander: MultiHotExpander | None, check: bool, root: Path, share: BatchShare | None = None,
                 counter: ReadCounter | None = None, watch: FileWatch | None = None) -> None:
        self.days, self.batch_size, self.sizes = days, batch_size, np.asarray(sizes, dtype=np.int64)
        self.multi_hot, self.expander, self.check, self.root = multi_hot, expander, check, root
        self.share = share  # read only this rank's share of every batch
        self.counter = counter if counter is not None else ReadCounter()
        self.samples = sum(d.rows for d in days)
        self.watch = watch  # checked before every pass and every batch (the days are memory-mapped)
        self._files = {d.day: day_files(root, d.day, multi_hot == "npz") for d in days}

    def __len__(self) -> int:
        return math.ceil(self.samples / self.batch_size)

    def _pieces(self) -> Iterator[list[tuple[Day, int, int]]]:
        """Row ranges ``(day, start, stop)`` that make up each batch."""
        pending: list[tuple[Day, int, int]] = []
        have = 0
        for day in self.days:
            row = day.start
            while row < day.stop:
                take = min(self.batch_size - have, day.stop - row)
                pending.append((day, row, row + take))
                have += take
                row += take
                if have == self.batch_size:
                    yield pending
                    pending, have = [], 0
        if pending:
            yield pending

    def _batch(self, pieces: list[tuple[Day, int, int]]) -> Batch:
        if self.watch is not None:  # an fstat per file: a day cut under its map would raise SIGBUS, not an error
            self.watch.check_open([path for day in dict.fromkeys(d.day for d, _, _ in pieces) for path in self._files[day]])
        rows = sum(b - a for _, a, b in pieces)
        if self.share is None:
            return self._read(pieces, (0, rows), (0, rows), (0, rows), None, None)
        request = self.share.request(0, rows)  # relative to the batch's first row
        return self._read(pieces, request.label, request.dense, request.ids, request.features, rows)

    def _read(self, pieces: list[tuple[Day, int, int]], label_rows: tuple[int, int],
              dense_rows: tuple[int, int] | None, id_rows: tuple[int, int], features: tuple[int, ...] | None,
              global_rows: int | None) -> Batch:
        """Rows ``label_rows`` of the labels, ``dense_rows`` of the dense features (None: none), ``id_rows``
        of ``features``' ids (None: all) of the batch made of ``pieces``; only those are read."""
        chosen = list(range(len(self.sizes))) if features is None else list(features)
        part = within(pieces, *label_rows)
        labels = _cat([d.labels[a:b] for d, a, b in part], (0, 1), np.int32).reshape(-1)
        ids_part = within(pieces, *id_rows)
        ids_rows = id_rows[1] - id_rows[0]
        if dense_rows is None:
            dense = np.empty((ids_rows, 0), dtype=np.float32)
        else:
            dense = _cat([d.dense[a:b] for d, a, b in within(pieces, *dense_rows)], (0, 13), np.float32)
        if self.check and part:
            day, first, _ = part[0]
            check_values(day_path(self.root, day.day, "labels"), first, labels, dense if dense.shape[1] else
                         np.empty((0, 13), dtype=np.float32))
        numerical = torch.from_numpy(np.ascontiguousarray(dense, dtype=np.float32))
        label = torch.from_numpy(labels.astype(np.float32))
        self.counter.add(labels, dense)
        if self.multi_hot == "npz":
            out = []
            for f in chosen:
                hotness = self.days[0].multi_hot[f].shape[1]  # type: ignore[index]
                ids = _cat([d.multi_hot[f][a:b] for d, a, b in ids_part], (0, hotness), np.int32)  # type: ignore[index]
                self.counter.add(ids)
                out.append(torch.from_numpy(np.remainder(ids.astype(np.int64), self.sizes[f])))
            return Batch(numerical, SparseFeatures.from_fixed(out) if out else _no_ids(ids_rows), label, global_rows)
        rows = _cat([d.sparse[a:b] for d, a, b in ids_part], (0, len(self.sizes)), np.int32)
        self.counter.add(rows)  # row-major: every column of the rows passes through the page cache
        if features is None:  # every feature: no column gather (one copy, the widening)
            one_hot = torch.from_numpy(np.remainder(rows.astype(np.int64), self.sizes))
        else:
            one_hot = torch.from_numpy(np.remainder(rows[:, chosen].astype(np.int64), self.sizes[chosen]))
        if self.expander is not None:
            expanded = self.expander(one_hot, chosen)
            return Batch(numerical, SparseFeatures.from_fixed(expanded) if expanded else _no_ids(ids_rows), label,
                         global_rows)
        return Batch(numerical, one_hot, label, global_rows)

    def __iter__(self) -> Iterator[Batch]:
        if self.watch is not None:  # before every pass
            self.watch.check([path for paths in self._files.values() for path in paths])
        for pieces in self._pieces():
            yield self._batch(pieces)


def within(pieces: list[tuple[Day, int, int]], lo: int, hi: int) -> list[tuple[Day, int, int]]:
    """The parts of ``pieces`` (a batch's day row ranges, in order) holding the batch's rows ``[lo, hi)``."""
    out, at = [], 0
    for day, a, b in pieces:
        start, stop = max(lo, at), min(hi, at + b - a)
        if start < stop:
            out.append((day, a + start - at, a + stop - at))
        at += b - a
    return out


def _cat(arrays: list[np.ndarray], empty: tuple[int, int], dtype: type) -> np.ndarray:
    """``arrays`` concatenated (an empty ``empty``-shaped array when there is none)."""
    return np.concatenate(arrays) if arrays else np.empty(empty, dtype=dtype)


def _no_ids(rows: int) -> SparseFeatures:
    """Sparse features of no feature over ``rows`` samples (a hybrid rank without tables)."""
    return SparseFeatures(torch.empty(0, dtype=torch.int64), rows, 0, hotness=())


class MlperfNpyDataset:
    """The ``mlperf_npy`` dataset plugin's factory product."""

    ids_validated = True  # ids are hashed into range

    def __init__(self, options: MlperfNpyOptions, case: Any = None) -> None:
        from dlrmbench.data.errors import DatasetError

        if options.path is None:
            raise DatasetError("dataset mlperf_npy needs options.path (the folder of day_N_*.npy files)")
        self.options, self.root = options, Path(options.path)
        self._sizes = table_sizes(options, case)
        if len(self._sizes) != 26:
            raise DatasetError(f"dataset mlperf_npy: {len(self._sizes)} table sizes given; the layout has 26 features")
        mode = options.multi_hot
        if mode == "auto":
            days = days_present(self.root)
            mode = "npz" if days and all(day_path(self.root, d, "multi_hot").is_file() for d in days) else "generate"
        self.mode = mode
        self._counter = ReadCounter()
        self._watch = FileWatch()
        for split in splits_needed(case):  # fingerprinted when opened (the planner opened them too)
            self._open(split)
        self._expander = (MultiHotExpander(self._sizes, list(options.multi_hot_sizes), options.multi_hot_distribution)
                          if mode == "generate" else None)

    @property
    def hotness(self) -> list[int] | None:
        return None if self.mode == "none" else list(self.options.multi_hot_sizes)

    def table_sizes(self) -> list[int]:
        return list(self._sizes)

    def _open(self, split: str) -> list[Day]:
        """The days of ``split``, their files fingerprinted (the first time) or checked (every later time)."""
        days = split_days(self.root, split, self.mode == "npz", list(self.options.multi_hot_sizes))
        self._watch.add(path for day in days for path in day_files(self.root, day.day, self.mode == "npz"))
        return days

    def data_files(self) -> dict[str, Any]:
        """The fingerprints of the day files opened (what the result records, :mod:`dlrmbench.data.watch`)."""
        return data_record(self.root, [self._watch])

    def bytes_read(self) -> int:
        """Bytes of the memory-mapped files this process's batches were made of."""
        return self._counter.bytes

    def rank_batches(self, split: str, batch_size: int, device: torch.device, share: BatchShare) -> MlperfNpyStream:
        """Only ``share`` of every global batch (:class:`~dlrmbench.data.share.BatchShare`): the labels and
        dense rows it names, its features' ids (multi-hot ``.npz``: only those members are touched)."""
        return self.batches(split, batch_size, device, share)

    def batches(self, split: str, batch_size: int, device: torch.device,
                share: BatchShare | None = None) -> MlperfNpyStream:
        return MlperfNpyStream(self._open(split), batch_size, self._sizes, self.mode, self._expander,
                               self.options.check_values, self.root, share, self._counter, self._watch)


def build(ctx: Any) -> MlperfNpyDataset:
    """Factory of the ``mlperf_npy`` dataset plugin."""
    return MlperfNpyDataset(ctx.options, ctx.case)
