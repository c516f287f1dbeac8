"""Where each table lives and how the global batch is split: the reference's heuristics, no torch.

``device_mapping`` follows NVIDIA's ``get_device_mapping`` / ``distribute_to_buckets`` (facts sheet
section 5): tables sorted by row count, largest first, each added to the open bucket with the
fewest rows; a bucket is closed when it holds ``ceil(tables / buckets)`` tables. With more than four
devices, device 0 holds only the bottom MLP. ``split_batch`` follows ``get_gpu_batch_sizes``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dlrmbench.data.share import split_batch  # the reference's batch split lives with the read shares

__all__ = ["BOTTOM_MLP_RANK", "Placement", "RankSlices", "batch_offsets", "device_mapping", "split_batch"]

BOTTOM_MLP_RANK = 0


@dataclass(frozen=True)
class Placement:
    """Tables per rank (feature indices, in the order the rank stores them) and the bottom MLP's rank."""

    tables: tuple[tuple[int, ...], ...]
    bottom_mlp_rank: int = BOTTOM_MLP_RANK

    @property
    def world_size(self) -> int:
        return len(self.tables)

    def vectors(self, rank: int) -> int:
        """Vectors rank ``rank`` sends in the forward exchange: its tables, +1 for the bottom MLP."""
        return len(self.tables[rank]) + (1 if rank == self.bottom_mlp_rank else 0)

    def vector_order(self) -> list[int]:
        """Slot of each exchanged vector in feature order: -1 is the bottom MLP, f is table f.

        The exchange concatenates rank 0's vectors, then rank 1's, ...; this lists what each
        position holds, so the model can permute back to (bottom, table 0, table 1, ...).
        """
        order: list[int] = []
        for rank, tables in enumerate(self.tables):
            if rank == self.bottom_mlp_rank:
                order.append(-1)
            order.extend(tables)
        return order


def _distribute_to_buckets(sizes: list[int], buckets: int) -> list[list[int]]:
    """The reference's ``distribute_to_buckets``: closed buckets first, then the open ones."""
    cap = math.ceil(len(sizes) / buckets)
    order = sorted(range(len(sizes)), key=lambda i: sizes[i], reverse=True)
    open_buckets: list[tuple[int, list[int]]] = [(0, []) for _ in range(buckets)]  # (total rows, tables)
    closed: list[list[int]] = []
    for index in order:
        rows, tables = open_buckets[0]
        tables = tables + [index]
        rows += sizes[index]
        if len(tables) == cap:
            closed.append(tables)
            open_buckets = open_buckets[1:]
        else:
            open_buckets[0] = (rows, tables)
        open_buckets.sort(key=lambda bucket: bucket[0])  # stable, like Python's sort in the reference
    return closed + [tables for _, tables in open_buckets]


def device_mapping(table_sizes: list[int], world_size: int) -> Placement:
    """Place ``table_sizes`` over ``world_size`` ranks by the reference's heuristic."""
    if world_size < 1:
        raise ValueError(f"world size must be at least 1, got {world_size}")
    if world_size == 1:
        return Placement((tuple(range(len(table_sizes))),))
    if world_size > 4:
        buckets = [[]] + _distribute_to_buckets(table_sizes, world_size - 1)
    else:
        buckets = _distribute_to_buckets(table_sizes, world_size)
    return Placement(tuple(tuple(b) for b in buckets))


class RankSlices:
    """Rank ``rank``'s rows of any global batch: the same split rule for the training batch, the test
    batch, an inference batch and a split's short last batch (every rank derives it from the row count)."""

    def __init__(self, world_size: int, rank: int) -> None:
        self.world_size, self.rank = world_size, rank
        self._cache: dict[int, list[int]] = {}

    def sizes(self, rows: int) -> list[int]:
        """Every rank's rows of a global batch of ``rows`` (rank order)."""
        if rows not in self._cache:
            self._cache[rows] = split_batch(rows, self.world_size, allow_empty=True)
        return self._cache[rows]

    def bounds(self, rows: int) -> tuple[int, int]:
        """``[start, stop)`` of this rank's rows of a global batch of ``rows``."""
        sizes = self.sizes(rows)
        start = batch_offsets(sizes)[self.rank]
        return start, start + sizes[self.rank]


def batch_offsets(sizes: list[int]) -> list[int]:
    """Start of each rank's slice of the global batch."""
    out, total = [], 0
    for size in sizes:
        out.append(total)
        total += size
    return out
