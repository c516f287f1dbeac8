"""Batches of a file-backed split as torch tensors: batch order, subset, last batch, prefetch.

A :class:`FileBatchStream` is re-iterable and has a length (batches per epoch), as the training
loop expects (:class:`dlrmbench.plugin_api.BatchStream`). Reads are batch-aligned: batch ``i``
is samples ``[i*B, (i+1)*B)`` of every file (facts sheet 3.1/3.2), converted to numerical
float32 ``(B, 13)``, categorical int64 ``(B, F)`` and label float32 ``(B,)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch

from dlrmbench.data.raw import RawBatch, SampleSource
from dlrmbench.batch import Batch
from dlrmbench.data.share import BatchShare


@dataclass(frozen=True)
class BatchOrder:
    """Which batches an epoch visits, and in which order.

    Attributes:
        samples: samples in the split.
        batch_size: samples per batch.
        drop_last: drop the final partial batch (reference ``--drop_last_batch``); else it is short.
        subset: keep the first ``ceil(subset * batches)`` batches (reference ``--dataset_subset``).
        shuffle: permute the batch order every epoch, seeded (reference ``--shuffle_batch_order``);
            samples inside a batch keep their file order.
        seed: the permutation of epoch ``e`` is drawn from ``(seed, e)``.
    """

    samples: int
    batch_size: int
    drop_last: bool = False
    subset: float = 1.0
    shuffle: bool = False
    seed: int = 0

    @property
    def num_batches(self) -> int:
        whole = self.samples // self.batch_size if self.drop_last else math.ceil(self.samples / self.batch_size)
        return min(whole, math.ceil(whole * self.subset)) if self.subset < 1 else whole

    def indices(self, epoch: int) -> np.ndarray:
        n = self.num_batches
        if not self.shuffle:
            return np.arange(n)
        return np.random.default_rng([self.seed, epoch]).permutation(n)

    def span(self, index: int) -> tuple[int, int]:
        start = index * self.batch_size
        return start, min(self.batch_size, self.samples - start)


def categorical_matrix(columns: list[np.ndarray] | np.ndarray, rows: int | None = None) -> np.ndarray:
    """``(B, F)`` int64 from per-feature id columns (int8/int16/int32) or a ``(B, F)`` array.

    Columns are first gathered feature-major into a narrow int32 ``(F, B)`` buffer (contiguous
    casts), then transposed and widened to int64 in one pass: about twice as fast as writing each
    column into the sample-major int64 matrix (strided writes over 8-byte elements).
    """
    if isinstance(columns, np.ndarray):
        return columns.astype(np.int64, order="C")
    rows = len(columns[0]) if columns else (rows or 0)  # no column: a rank without tables still has rows
    narrow = np.empty((len(columns), rows), dtype=np.int32)
    for f, column in enumerate(columns):
        narrow[f] = column
    return narrow.T.astype(np.int64, order="C")


def to_batch(raw: RawBatch, global_rows: int | None = None) -> Batch:
    """Convert file dtypes to the model's: float32 numerical and label, int64 categorical.

    The casts run in numpy (torch's CPU float16 -> float32 cast is several times slower here) and
    the results are wrapped without a copy. ``global_rows``: ``raw`` is a rank's share of a global batch
    of that many rows.
    """
    return Batch(
        numerical=torch.from_numpy(raw.numerical.astype(np.float32, order="C")),
        categorical=torch.from_numpy(categorical_matrix(raw.categorical, raw.numerical.shape[0])),
        label=torch.from_numpy(raw.label.astype(np.float32)),
        global_rows=global_rows,
    )


class FileBatchStream:
    """The batches of one split, read from ``source`` in ``order``, optionally prefetched.

    Args:
        prefetch_depth: batches requested ahead by background threads (0: read in the caller).
        prefetch_workers: threads converting batches concurrently.
        share: read only this rank's share of every batch (None: the whole batch).
    """

    def __init__(self, source: SampleSource, order: BatchOrder, device: torch.device, prefetch_depth: int = 0,
                 prefetch_workers: int = 1, share: "BatchShare | None" = None) -> None:
        self.source = source
        self.share = share
        self.order = order
        self.device = device
        self.prefetch_depth = prefetch_depth
        self.prefetch_workers = prefetch_workers
        self._epoch = 0

    def __len__(self) -> int:
        return self.order.num_batches

    def load(self, index: int) -> Batch:
        """Batch ``index`` of the split (file order), as host tensors."""
        start, count = self.order.span(int(index))
        if self.share is not None:
            return to_batch(self.source.read_request(self.share.request(start, count), transient=True), count)
        return to_batch(self.source.read(start, count, transient=True))  # to_batch copies everything out

    def __iter__(self) -> Iterator[Batch]:
        watch = getattr(self.source, "watch", None)
        if watch is not None:  # before every pass: a file changed since the reader opened it is refused
            watch.check()
        indices = self.order.indices(self._epoch)
        self._epoch += 1
        if self.prefetch_depth <= 0:
            return map(self.load, indices)
        from dlrmbench.data.prefetch import prefetch

        return prefetch(self.load, indices, self.prefetch_depth, self.device, self.prefetch_workers)
