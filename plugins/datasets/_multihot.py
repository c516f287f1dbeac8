"""Multi-hot ids: the reference's one-hot -> multi-hot expansion and the batch that carries them (torch).

The MLPerf DLRMv2 data is the Criteo 1TB one-hot data made multi-hot by a fixed random map
(``mlcommons/training:recommendation_v2/torchrec_dlrm/multi_hot.py`` class ``Multihot``, also what
``scripts/materialize_synthetic_multihot_dataset.py`` writes to the ``.npz`` files): for every table
of ``rows`` rows and hotness ``h`` a lookup table ``(rows, h)`` whose column 0 is the id itself and
columns 1.. are drawn, after one ``np.random.seed(0)``, table after table in feature order, as

- ``uniform``: ``np.random.randint(0, rows, size=(rows, h - 1))``;
- ``pareto``: ``np.random.pareto(a=0.25, size=(rows, h - 1)).astype(np.int32) % rows``.

A sample's id ``i`` of feature ``f`` (hashed ``% rows``) becomes the ``h_f`` ids ``table_f[i]``. The
tables hold ``sum(rows_f * h_f)`` int32 ids: 2 GiB for 26 x 100,000 rows at the MLPerf hotness, and
tens of GiB at the full MLPerf table sizes (as in the reference, which builds them the same way).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from dlrmbench.workload.data import Batch

Distribution = Literal["uniform", "pareto"]
MLPERF_HOTNESS = [3, 2, 1, 2, 6, 1, 1, 1, 1, 7, 3, 8, 1, 6, 9, 5, 1, 1, 1, 12, 100, 27, 10, 3, 1, 1]  # 214 ids


def multi_hot_tables(table_sizes: list[int], hotness: list[int], distribution: Distribution,
                     seed: int = 0) -> list[np.ndarray]:
    """The reference's one-hot -> multi-hot lookup tables, int32 ``(rows_f, h_f)`` per feature."""
    if len(hotness) != len(table_sizes):
        raise ValueError(f"multi_hot_sizes has {len(hotness)} entries for {len(table_sizes)} tables")
    if any(h < 1 for h in hotness):
        raise ValueError(f"every multi-hot size must be >= 1, got {hotness}")
    rng = np.random.RandomState(seed)  # the legacy global generator np.random.seed(0) reseeds: same stream
    tables = []
    for rows, h in zip(table_sizes, hotness):
        ids = np.arange(rows)[:, np.newaxis]
        if distribution == "uniform":
            extra = rng.randint(0, rows, size=(rows, h - 1))
        elif distribution == "pareto":
            with np.errstate(invalid="ignore", over="ignore"):
                extra = rng.pareto(a=0.25, size=(rows, h - 1)).astype(np.int32) % rows
        else:
            raise ValueError(f"unknown multi-hot distribution {distribution!r}; choose uniform or pareto")
        tables.append(np.concatenate((ids, extra), axis=-1).astype(np.int32))
    return tables


@dataclass
class MultiHotIds:
    """Ids of a batch with a fixed hotness per feature: ``features[f]`` is int64 ``(B, h_f)``.

    ``values``/``offsets`` give TorchRec's KeyedJaggedTensor layout (feature-major, then sample).
    """

    features: list[torch.Tensor]

    @property
    def hotness(self) -> list[int]:
        return [int(t.shape[1]) for t in self.features]

    def values(self) -> torch.Tensor:
        return torch.cat([t.reshape(-1) for t in self.features])

    def offsets(self) -> torch.Tensor:
        batch = self.features[0].shape[0]
        lengths = torch.cat([torch.full((batch,), h, dtype=torch.int64) for h in self.hotness])
        return torch.cat([torch.zeros(1, dtype=torch.int64), lengths.cumsum(0)])

    def to(self, device: torch.device | str, non_blocking: bool = False) -> "MultiHotIds":
        return MultiHotIds([t.to(device, non_blocking=non_blocking) for t in self.features])


class MultiHotBatch(Batch):
    """A :class:`Batch` whose samples carry multi-hot ids in ``multi_hot``; ``categorical`` keeps each
    feature's first id (the original one-hot id, column 0 of the reference's map)."""

    def __init__(self, numerical: torch.Tensor, multi_hot: MultiHotIds, label: torch.Tensor) -> None:
        super().__init__(numerical, torch.stack([t[:, 0] for t in multi_hot.features], dim=1), label)
        self.multi_hot = multi_hot

    def to(self, device: torch.device | str, non_blocking: bool = False) -> "MultiHotBatch":
        return MultiHotBatch(self.numerical.to(device, non_blocking=non_blocking),
                             self.multi_hot.to(device, non_blocking), self.label.to(device, non_blocking=non_blocking))


class MultiHotExpander:
    """One-hot ids ``(B, F)`` -> :class:`MultiHotIds` through the reference's lookup tables."""

    def __init__(self, table_sizes: list[int], hotness: list[int], distribution: Distribution, seed: int = 0) -> None:
        self.table_sizes = list(table_sizes)
        self.tables = [torch.from_numpy(t) for t in multi_hot_tables(table_sizes, hotness, distribution, seed)]

    def __call__(self, one_hot: torch.Tensor) -> MultiHotIds:
        ids = one_hot.long()
        return MultiHotIds([table[torch.remainder(ids[:, f], rows)].long()
                            for f, (table, rows) in enumerate(zip(self.tables, self.table_sizes))])
