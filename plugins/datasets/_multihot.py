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

from typing import Literal

import numpy as np
import torch

from dlrmbench_plugins.datasets.mlperf_npy import MLPERF_HOTNESS  # noqa: F401 (defined once, re-exported)


Distribution = Literal["uniform", "pareto"]


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


class MultiHotExpander:
    """One-hot ids ``(B, F)`` -> one int64 ``(B, h_f)`` tensor per feature, through the reference's tables
    (``SparseFeatures.from_fixed`` makes the batch's ids of them)."""

    def __init__(self, table_sizes: list[int], hotness: list[int], distribution: Distribution, seed: int = 0) -> None:
        self.table_sizes = list(table_sizes)
        self.tables = [torch.from_numpy(t) for t in multi_hot_tables(table_sizes, hotness, distribution, seed)]

    def __call__(self, one_hot: torch.Tensor, features: "list[int] | tuple[int, ...] | None" = None
                 ) -> list[torch.Tensor]:
        """``features``: the features ``one_hot``'s columns are (default: every feature, in order)."""
        ids = one_hot.long()
        chosen = range(len(self.tables)) if features is None else features
        return [self.tables[f][torch.remainder(ids[:, column], self.table_sizes[f])].long()
                for column, f in enumerate(chosen)]
