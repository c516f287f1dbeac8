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

from dlrmbench.data.mlperf_npy import Day, check_values, day_path, days_present, split_days
from dlrmbench.batch import Batch, SparseFeatures
from dlrmbench_plugins.datasets._multihot import MultiHotExpander
from dlrmbench_plugins.datasets.mlperf_npy import MlperfNpyOptions, table_sizes


class MlperfNpyStream:
    """The batches of one split, re-iterable, ``len()`` = batches per epoch."""

    def __init__(self, days: list[Day], batch_size: int, sizes: list[int], multi_hot: str,
                 expander: MultiHotExpander | None, check: bool, root: Path) -> None:
        self.days, self.batch_size, self.sizes = days, batch_size, np.asarray(sizes, dtype=np.int64)
        self.multi_hot, self.expander, self.check, self.root = multi_hot, expander, check, root
        self.samples = sum(d.rows for d in days)

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
        labels = np.concatenate([d.labels[a:b] for d, a, b in pieces]).reshape(-1)
        dense = np.concatenate([d.dense[a:b] for d, a, b in pieces])
        if self.check:
            first = pieces[0]
            check_values(day_path(self.root, first[0].day, "labels"), first[1], labels, dense)
        numerical = torch.from_numpy(np.ascontiguousarray(dense, dtype=np.float32))
        label = torch.from_numpy(labels.astype(np.float32))
        if self.multi_hot == "npz":
            features = []
            for f in range(len(self.sizes)):
                ids = np.concatenate([d.multi_hot[f][a:b] for d, a, b in pieces]).astype(np.int64)  # type: ignore[index]
                features.append(torch.from_numpy(np.remainder(ids, self.sizes[f])))
            return Batch(numerical, SparseFeatures.from_fixed(features), label)
        sparse = np.concatenate([d.sparse[a:b] for d, a, b in pieces]).astype(np.int64)
        one_hot = torch.from_numpy(np.remainder(sparse, self.sizes))
        if self.expander is not None:
            return Batch(numerical, SparseFeatures.from_fixed(self.expander(one_hot)), label)
        return Batch(numerical, one_hot, label)

    def __iter__(self) -> Iterator[Batch]:
        for pieces in self._pieces():
            yield self._batch(pieces)


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
        self._expander = (MultiHotExpander(self._sizes, list(options.multi_hot_sizes), options.multi_hot_distribution)
                          if mode == "generate" else None)

    @property
    def hotness(self) -> list[int] | None:
        return None if self.mode == "none" else list(self.options.multi_hot_sizes)

    def table_sizes(self) -> list[int]:
        return list(self._sizes)

    def batches(self, split: str, batch_size: int, device: torch.device) -> MlperfNpyStream:
        days = split_days(self.root, split, self.mode == "npz", list(self.options.multi_hot_sizes))
        return MlperfNpyStream(days, batch_size, self._sizes, self.mode, self._expander, self.options.check_values,
                               self.root)


def build(ctx: Any) -> MlperfNpyDataset:
    """Factory of the ``mlperf_npy`` dataset plugin."""
    return MlperfNpyDataset(ctx.options, ctx.case)
