"""Implementation of ``joint_sgd_in_backward`` (imports torch).

The joint table of ``joint_sparse`` (same rows, offsets, initialisation), but its backward applies
plain SGD to the rows the batch touched, ``weight[rows] -= lr * grad``, itself: the table never
carries a ``.grad`` (the harness's optimizer skips it), nothing is coalesced, accumulated or kept
until the optimizer step. Duplicate ids in a batch add up, exactly as the sparse gradient would.
This is what FBGEMM's fused exact SGD does, in stock PyTorch operators.

The update goes through PyTorch's dense += sparse kernel, handed an uncoalesced COO *view* of the
incoming gradient (no copy of the values when they are contiguous float32): on the CPU that kernel
is the fastest stock row scatter-add (measured on this project's 2-core machine at 26 x 2048 rows of
128: ~2x ``index_add_``, ~3x ``index_put_(accumulate=True)`` and ``scatter_add_``).
The learning rate of each step comes from the training loop (the contract's ``applies_own_optimizer`` / ``set_learning_rate``).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch.nn import functional

from dlrmbench.plugin_api import BuildContext
from dlrmbench_plugins.embeddings._tables import JointEmbedding

Gather = Literal["index_select", "embedding_bag"]


def gather_rows(weight: torch.Tensor, rows: torch.Tensor, how: Gather) -> torch.Tensor:
    """``weight[rows]`` for flat ``rows``: ``index_select``, or ``embedding_bag`` with one id per bag."""
    if how == "embedding_bag":
        offsets = torch.arange(rows.numel(), device=rows.device, dtype=rows.dtype)
        return functional.embedding_bag(rows, weight, offsets, mode="sum")
    return weight.index_select(0, rows)


def build_joint_sgd_in_backward(ctx: BuildContext) -> "JointSgdInBackward":
    return JointSgdInBackward(list(ctx.table_sizes or ()), ctx.embedding_dim, ctx.case.model.hash_indices, ctx.options)


class _GatherSgdInBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, weight: torch.Tensor, rows: torch.Tensor, owner: "JointSgdInBackward"):  # type: ignore[override]
        flat = rows.reshape(-1)
        ctx.save_for_backward(flat)
        ctx.owner = owner
        ctx.weight = weight  # updated in place in backward: not a saved tensor (no version check)
        return gather_rows(weight, flat, owner.gather).view(*rows.shape, weight.shape[1])

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        (flat,) = ctx.saved_tensors
        weight = ctx.weight
        lr = ctx.owner.learning_rate
        values = grad.reshape(-1, weight.shape[1]).to(weight.dtype)  # a view when contiguous float32
        update = torch.sparse_coo_tensor(flat.unsqueeze(0), values, weight.shape, check_invariants=False)
        with torch.no_grad():
            weight.add_(update, alpha=-lr)
        return None, None, None


class JointSgdInBackward(JointEmbedding):
    """One joint table; SGD applied to the touched rows inside backward (see the module docstring)."""

    applies_own_optimizer = True

    def __init__(self, table_sizes: list[int], dim: int, hash_indices: bool = False, options: object = None) -> None:
        super().__init__(table_sizes, dim, hash_indices, options)
        self.gather: Gather = getattr(options, "gather", "index_select")
        self._lr: float | None = None

    @property
    def learning_rate(self) -> float:
        if self._lr is None:
            raise RuntimeError("joint_sgd_in_backward applies SGD inside backward: the training loop must call "
                               "set_learning_rate(lr) on it before each step")
        return self._lr

    def set_learning_rate(self, lr: float) -> None:
        self._lr = float(lr)

    def forward(self, categorical: torch.Tensor) -> torch.Tensor:
        rows = self.prepare_indices(categorical) + self.offsets
        if not (torch.is_grad_enabled() and self.weight.requires_grad):
            return gather_rows(self.weight, rows.reshape(-1), self.gather).view(*rows.shape, self.dim)
        self.learning_rate  # fail before the step, not inside backward
        return _GatherSgdInBackward.apply(self.weight, rows, self)
