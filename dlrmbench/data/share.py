"""What one rank reads of every global batch (numpy and torch free).

The references read differently per topology, and so does dlrmbench:

* **Rows** (``torchrec_dmp``, ``data_parallel``; the DLRMv2 reference): rank r reads the labels, dense
  features and every feature's ids of its own rows ``[offset_r, offset_r + b_r)`` only. On ``torchrec_dmp``
  DMP's input all-to-all (``KJTAllToAll``) then sends each table's ids to the ranks that hold its shards, as
  the MLPerf reference's data loader (one local batch per rank) and TrainPipelineSparseDist do.
* **Columns** (dlrmbench's hybrid layout, NVIDIA's reference, facts sheet sections 3.2 and 5): each table is
  looked up over the whole global batch on the rank that holds it, so rank r reads the ids of its own tables
  for every row, the dense features for every row only on the bottom MLP's rank (none elsewhere), and the
  labels of its own rows (NVIDIA's ranks read every label; only their own rows are ever used). No id crosses
  the wire before the lookups; the pooled vectors do (the exchange).

The global batch is split by :func:`split_batch` (the reference's ``get_gpu_batch_sizes``; also what
:class:`~dlrmbench.distributed.placement.RankSlices` uses) from each batch's own row count, so the training
batch, the test batch and a split's short last batch split alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Span = Literal["rows", "batch", "none"]


def split_batch(global_batch: int, world_size: int, multiple: int = 64, allow_empty: bool = False) -> list[int]:
    """Per-rank batch sizes summing to ``global_batch``: multiples of 64 within ±64 of the mean, most equal.

    This is the reference's choice (the combination with the largest product is the most equal one;
    among equals it keeps the larger sizes on the last ranks, as its lexicographic search does). Where
    no such split exists (a global batch that is not a multiple of 64 per rank: small CPU cases), the
    reference raises; here the batch is split as equally as possible in single samples instead.
    ``allow_empty``: a batch smaller than the world (the short last batch of a split, inference at batch 1)
    leaves the first ranks without rows instead of raising.
    """
    if global_batch < world_size and not allow_empty:
        raise ValueError(f"global batch {global_batch} is smaller than the world size {world_size}")
    if global_batch % multiple != 0 or global_batch // multiple < world_size:
        multiple = 1
    units = global_batch // multiple
    base, extra = divmod(units, world_size)
    return [(base + (1 if rank >= world_size - extra else 0)) * multiple for rank in range(world_size)]


@dataclass(frozen=True)
class ReadRequest:
    """Absolute sample ranges to read from a split for one global batch.

    Attributes:
        label: ``(start, stop)`` of the labels.
        dense: ``(start, stop)`` of the dense features, or None (none read: an empty ``(ids rows, 0)`` block).
        ids: ``(start, stop)`` of the ids.
        features: the categorical features read, in this order (None: every feature).
    """

    label: tuple[int, int]
    dense: tuple[int, int] | None
    ids: tuple[int, int]
    features: tuple[int, ...] | None

    def span(self) -> tuple[int, int]:
        """The smallest sample range holding everything requested (a record format reads it whole)."""
        ranges = [self.label, self.ids] + ([self.dense] if self.dense is not None else [])
        ranges = [r for r in ranges if r[1] > r[0]] or [self.label]
        return min(r[0] for r in ranges), max(r[1] for r in ranges)


@dataclass(frozen=True)
class BatchShare:
    """The part of every global batch one rank reads (see the module docstring).

    Attributes:
        rank, world_size: the rank and the number of ranks the rows are split over.
        dense: ``rows`` (its rows), ``batch`` (every row: the hybrid bottom MLP's rank) or ``none``.
        ids: ``rows`` or ``batch`` (every row: model-parallel tables looked up over the global batch).
        features: the categorical features read, in the order the rank uses them (None: all).
    """

    rank: int
    world_size: int
    dense: Span = "rows"
    ids: Literal["rows", "batch"] = "rows"
    features: tuple[int, ...] | None = None

    @classmethod
    def rows(cls, rank: int, world_size: int) -> "BatchShare":
        """Everything of this rank's rows (data parallel; DMP, whose input all-to-all moves the ids)."""
        return cls(rank, world_size)

    @classmethod
    def columns(cls, rank: int, world_size: int, features: tuple[int, ...], bottom_mlp: bool) -> "BatchShare":
        """dlrmbench's hybrid layout: this rank's tables' ids and (on the bottom MLP's rank) the dense features
        of every row, the labels of its rows."""
        return cls(rank, world_size, dense="batch" if bottom_mlp else "none", ids="batch", features=tuple(features))

    def sizes(self, rows: int) -> list[int]:
        """Every rank's rows of a global batch of ``rows``."""
        return split_batch(rows, self.world_size, allow_empty=True)

    def bounds(self, rows: int) -> tuple[int, int]:
        """``[start, stop)`` of this rank's rows of a global batch of ``rows``."""
        sizes = self.sizes(rows)
        start = sum(sizes[:self.rank])
        return start, start + sizes[self.rank]

    def request(self, start: int, rows: int) -> ReadRequest:
        """What to read of the global batch of ``rows`` samples starting at sample ``start`` of the split."""
        first, stop = self.bounds(rows)
        mine = (start + first, start + stop)
        whole = (start, start + rows)
        dense = {"rows": mine, "batch": whole, "none": None}[self.dense]
        return ReadRequest(label=mine, dense=dense, ids=whole if self.ids == "batch" else mine,
                           features=self.features)

    def epoch_ranges(self, samples: int, batch_size: int, batches: int) -> "EpochRanges":
        """The sample ranges this share reads over the first ``batches`` global batches of ``batch_size`` of a
        split of ``samples`` (in any order: an epoch's batches), adjacent ranges merged: what a value scan of
        this rank must cover, and no more."""
        label: list[tuple[int, int]] = []
        dense: list[tuple[int, int]] = []
        ids: list[tuple[int, int]] = []
        for index in range(batches):
            start = index * batch_size
            request = self.request(start, min(batch_size, samples - start))
            _extend(label, request.label)
            if request.dense is not None:
                _extend(dense, request.dense)
            _extend(ids, request.ids)
        return EpochRanges(tuple(label), tuple(dense), tuple(ids), self.features)


@dataclass(frozen=True)
class EpochRanges:
    """Sample ranges ``(start, stop)`` read of each kind over an epoch; ``features``: the ids' features (None:
    all)."""

    label: tuple[tuple[int, int], ...]
    dense: tuple[tuple[int, int], ...]
    ids: tuple[tuple[int, int], ...]
    features: tuple[int, ...] | None


def _extend(ranges: list[tuple[int, int]], new: tuple[int, int]) -> None:
    """Append ``new`` to ``ranges`` (ascending), merged with the last range when they touch; empty ones dropped."""
    if new[1] <= new[0]:
        return
    if ranges and ranges[-1][1] >= new[0]:
        ranges[-1] = (ranges[-1][0], max(ranges[-1][1], new[1]))
    else:
        ranges.append(new)
