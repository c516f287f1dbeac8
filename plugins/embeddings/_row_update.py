"""The fused row update of the in-backward strategies (imports torch).

A backward hands the strategy N gradient rows for N looked-up ids, many of which may name the same table
row. The update here groups them once and writes each touched row once:

1. :func:`group_rows`: sort the ids; each distinct row is a run of the sorted order (no COO tensor, no
   ``torch.unique`` inverse);
2. :func:`summed_gradients`: one ``embedding_bag`` (sum) over the *gradient* rows, a bag per distinct
   row, gives each row's summed gradient in float32. For multi-hot bags the gradient of an id is its
   bag's gradient row, so the bags' ``(F * B, D)`` gradient is read through the ids' bag numbers and is
   never expanded to one row per id;
3. :func:`sgd_rows_` / :func:`adagrad_rows_`: one read-modify-write per distinct row, in the table's
   dtype. float32 tables add in place; bfloat16 and float16 tables compute the new row in float32 and
   round it once, to nearest or stochastically (:class:`StochasticRounding`).
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import torch
from torch.nn import functional

from dlrmbench.model.adagrad import adagrad_row_steps_

Rounding = Literal["stochastic", "nearest"]

TABLE_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}

_DROPPED_BITS = {torch.bfloat16: 16, torch.float16: 13}  # float32 mantissa bits each format does not keep


class RowGroups(NamedTuple):
    """The ids of one backward grouped by table row."""

    rows: torch.Tensor
    """(U,) the distinct rows, ascending."""
    order: torch.Tensor
    """(N,) the positions of the ids, sorted by row."""
    starts: torch.Tensor
    """(U,) where each distinct row's run begins in ``order``."""


def group_rows(ids: torch.Tensor) -> RowGroups:
    """Sort the flat ``ids`` (N,) and find the run of each distinct row."""
    sorted_ids, order = torch.sort(ids)
    rows, counts = torch.unique_consecutive(sorted_ids, return_counts=True)
    return RowGroups(rows, order, counts.cumsum(0).sub_(counts))


def summed_gradients(groups: RowGroups, grad: torch.Tensor, source: torch.Tensor | None = None) -> torch.Tensor:
    """Each distinct row's gradient, float32 ``(U, D)``: the sum over its ids ``i`` of ``grad[source[i]]``
    (``source`` None: ``grad[i]``, one gradient row per id). ``source`` maps an id to its bag, so a bag's
    gradient row is read once per id but never copied per id."""
    take = groups.order if source is None else source.index_select(0, groups.order)
    return functional.embedding_bag(take, grad.float().contiguous(), groups.starts, mode="sum")


class StochasticRounding:
    """float32 to bfloat16 or float16, rounded stochastically as FBGEMM's fused optimizers round.

    FBGEMM adds uniformly random bits below the target format's last mantissa bit and truncates
    (``stochastic_rounding_scalar`` in ``fbgemm_gpu/utils/stochastic_rounding.cuh``: 13 random bits for
    float16; 16 for bfloat16). A value between two representable neighbours therefore goes up with
    probability equal to its distance from the lower one: unbiased in expectation. Here the bits are
    added to the float32 bit pattern as an integer (carries move into the exponent, as they must) and the
    dropped bits cleared, after which the conversion is exact. float16 subnormals and NaN payloads are not
    handled specially (FBGEMM's caveat too): they fall back to the conversion's rounding.

    The random bits come from a pool drawn once from ``seed`` (``pool_size`` values) and read at a fresh
    random offset per call: each element's bits are one uniform draw, and a call costs no generator work
    over its (U, D) elements (PyTorch's CPU generator takes ~60 ms for 6.7 M values on this project's
    machine, longer than the update).
    """

    def __init__(self, dtype: torch.dtype, seed: int = 0, pool_size: int = 1 << 22) -> None:
        if dtype not in _DROPPED_BITS:
            raise ValueError(f"stochastic rounding targets bfloat16 or float16, not {dtype}")
        self.dtype = dtype
        self.dropped = _DROPPED_BITS[dtype]
        self.pool_size = pool_size
        self.generator = torch.Generator().manual_seed(seed)
        self._pool: torch.Tensor | None = None

    def _bits(self, count: int) -> torch.Tensor:
        if self._pool is None:
            self._pool = torch.randint(0, 1 << self.dropped, (self.pool_size,), dtype=torch.int32,
                                       generator=self.generator)
        start = int(torch.randint(0, self.pool_size - count + 1, (1,), generator=self.generator))
        return self._pool[start:start + count]

    def __call__(self, values: torch.Tensor) -> torch.Tensor:
        """``values`` (float32, contiguous; overwritten) rounded to :attr:`dtype`."""
        if values.dtype != torch.float32 or not values.is_contiguous():
            raise ValueError("stochastic rounding takes a contiguous float32 tensor")
        bits = values.view(-1).view(torch.int32)
        for at in range(0, bits.numel(), self.pool_size):
            chunk = bits[at:at + self.pool_size]
            chunk.add_(self._bits(chunk.numel()))
        bits.bitwise_and_(-(1 << self.dropped))
        return values.to(self.dtype)


def make_rounding(dtype: torch.dtype, rounding: Rounding, seed: int = 0) -> "StochasticRounding | None":
    """The rounder of a low-precision table (None: round to nearest, or a float32 table)."""
    if dtype == torch.float32 or rounding == "nearest":
        return None
    return StochasticRounding(dtype, seed)


def sgd_rows_(weight: torch.Tensor, rows: torch.Tensor, step: torch.Tensor, lr: float,
              rounder: StochasticRounding | None = None) -> None:
    """``weight[rows] -= lr * step`` for distinct ``rows``, each row written once in the table's dtype.

    float32 tables: one ``index_add_``. bfloat16/float16 tables: the new rows in float32, rounded once
    (``rounder``, or to nearest when None)."""
    if weight.dtype == torch.float32:
        weight.index_add_(0, rows, step.to(torch.float32), alpha=-lr)
        return
    new = weight.index_select(0, rows).float().add_(step, alpha=-lr)
    weight.index_copy_(0, rows, rounder(new) if rounder is not None else new.to(weight.dtype))


def adagrad_rows_(weight: torch.Tensor, state_sum: torch.Tensor, rows: torch.Tensor, summed: torch.Tensor,
                  lr: float, eps: float, rounder: StochasticRounding | None = None) -> None:
    """FBGEMM's EXACT_ADAGRAD on distinct ``rows`` with their summed gradients (float32 accumulator;
    ``summed`` is overwritten with the step): the maths of :func:`dlrmbench.model.adagrad.adagrad_unique_rows_`, the weight written as :func:`sgd_rows_`."""
    sgd_rows_(weight, rows, adagrad_row_steps_(state_sum, rows, summed, eps, overwrite=True), lr, rounder)
