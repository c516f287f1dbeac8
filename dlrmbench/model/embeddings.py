"""What every embedding strategy shares: id checking or hashing, initialisation, memory accounting.

A strategy is an ``nn.Module`` mapping categorical ids (``(B, F)`` int64, or
:class:`~dlrmbench.batch.SparseFeatures` for several ids per feature, sum-pooled) to ``(B, F, D)``
vectors, with float32 tables and sparse gradients (facts sheet 1.4). The contract is
:class:`dlrmbench.plugin_api.EmbeddingStrategy`; :class:`EmbeddingBase` fills most of it.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from dlrmbench.batch import Ids, SparseFeatures


class IndexOutOfRange(ValueError):
    """A categorical id outside its table (and ``hash_indices`` is off)."""


class EmbeddingBase(nn.Module):
    """Base class: owns the table sizes and turns raw ids into valid row indices.

    Args:
        table_sizes: rows of each feature's table.
        dim: the vector width D.
        hash_indices: fold ids into range with ``id mod size`` (the reference's "hashing").
    """

    def __init__(self, table_sizes: list[int], dim: int, hash_indices: bool = False) -> None:
        super().__init__()
        self.table_sizes = [int(s) for s in table_sizes]
        self.dim = dim
        self.hash_indices = hash_indices
        self.register_buffer("sizes", torch.tensor(self.table_sizes, dtype=torch.int64), persistent=False)
        offsets = [0]
        for size in self.table_sizes[:-1]:
            offsets.append(offsets[-1] + size)
        self.register_buffer("offsets", torch.tensor(offsets, dtype=torch.int64), persistent=False)
        # False when the dataset has already checked every id against these table sizes (readers scan
        # their files on open): then only the first batch is checked, as on a GPU.
        self.check_every_batch = True
        self._checked_once = False

    applies_own_optimizer = False
    """True in strategies that update their tables inside backward (the optimizer plugin skips them)."""

    def set_learning_rate(self, lr: float) -> None:
        """Called before every step when :attr:`applies_own_optimizer` is True; nothing to do otherwise."""

    @property
    def num_features(self) -> int:
        return len(self.table_sizes)

    def prepare_indices(self, categorical: Ids) -> Ids:
        """Return ``categorical`` folded (hash_indices) or checked to lie inside each table.

        On the CPU every batch is checked unless the dataset vouches for its ids
        (``check_every_batch`` False); on a GPU only the first batch, to keep the step free of host
        synchronisation. The check costs about 0.1 ms per 2048 x 26 batch on the CPU.
        """
        if isinstance(categorical, SparseFeatures):
            return self._prepare_sparse(categorical)
        if categorical.dim() != 2 or categorical.shape[1] != self.num_features:
            raise ValueError(
                f"expected categorical ids of shape (batch, {self.num_features}), got {tuple(categorical.shape)}"
            )
        if self.hash_indices:
            return torch.remainder(categorical, self.sizes)
        if (categorical.device.type == "cpu" and self.check_every_batch) or not self._checked_once:
            self._checked_once = True
            bad = (categorical < 0) | (categorical >= self.sizes)
            if bool(bad.any()):
                row, feature = (int(v) for v in bad.nonzero()[0].tolist())
                value = int(categorical[row, feature])
                raise IndexOutOfRange(
                    f"categorical feature {feature} (cat_{feature}) has id {value} at batch row {row}, "
                    f"outside its table of {self.table_sizes[feature]} rows; fix the data or the table "
                    "sizes, or set model.hash_indices: true to fold ids into range"
                )
        return categorical

    def _prepare_sparse(self, ids: SparseFeatures) -> SparseFeatures:
        if ids.num_features != self.num_features:
            raise ValueError(f"expected ids of {self.num_features} features, got {ids.num_features}")
        sizes = self.sizes[ids.feature_of_values()]
        if self.hash_indices:
            return ids.with_values(torch.remainder(ids.values, sizes))
        if (ids.device.type == "cpu" and self.check_every_batch) or not self._checked_once:
            self._checked_once = True
            bad = (ids.values < 0) | (ids.values >= sizes)
            if bool(bad.any()):
                at = int(bad.nonzero()[0])
                feature = int(ids.feature_of_values()[at])
                raise IndexOutOfRange(
                    f"categorical feature {feature} (cat_{feature}) has id {int(ids.values[at])}, outside its table "
                    f"of {self.table_sizes[feature]} rows; fix the data or the table sizes, or set "
                    "model.hash_indices: true to fold ids into range"
                )
        return ids

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Uniform(-sqrt(1/n), sqrt(1/n)) per table, n = that table's rows (facts sheet 1.3)."""
        raise NotImplementedError

    def parameter_bytes(self) -> int:
        return sum(p.numel() * p.element_size() for p in self.parameters())

    def optimizer_state_bytes(self, state_bytes_per_parameter: float = 0.0) -> int:
        """Bytes of optimizer state for these tables, given the optimizer's state per parameter element
        (plain SGD: 0; Adagrad: 4, one float32 accumulator). A strategy that keeps its own state
        (``applies_own_optimizer``) overrides this."""
        return int(sum(p.numel() for p in self.parameters()) * state_bytes_per_parameter)


EmbeddingStrategy = EmbeddingBase  # the name this base class had before the contract moved to plugin_api


def uniform_table_init_(weight: torch.Tensor, rows: int, generator: torch.Generator | None = None) -> None:
    bound = math.sqrt(1.0 / rows)
    with torch.no_grad():
        weight.uniform_(-bound, bound, generator=generator)
