"""Implementation of ``joint_sgd_in_backward`` and ``joint_adagrad_in_backward`` (imports torch).

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

``joint_adagrad_in_backward`` is the same table with FBGEMM's ``EXACT_ADAGRAD`` applied in the
backward instead: the rows a batch touched, each distinct row's gradients summed first (``torch.unique``
+ ``index_add_``; no sparse gradient tensor), then ``G[r] += g^2; w[r] -= lr g / (sqrt(G[r]) + eps)``
once per row, with the accumulator ``G`` kept by the strategy (eps from the case's ``adagrad`` options).
It takes multi-hot ids too: one ``embedding_bag`` (sum) forward; in backward each id receives its bag's
gradient.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch.nn import functional

from dlrmbench.batch import SparseFeatures
from dlrmbench.model.adagrad import ADAGRAD_EPS
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


def build_joint_adagrad_in_backward(ctx: BuildContext) -> "JointAdagradInBackward":
    from dlrmbench.model.adagrad import ADAGRAD_EPS

    eps = float(ctx.case.optimizer.options.get("eps", ADAGRAD_EPS))  # the adagrad plugin's option
    return JointAdagradInBackward(list(ctx.table_sizes or ()), ctx.embedding_dim, ctx.case.model.hash_indices,
                                  ctx.options, eps)


class _GatherUpdateInBackward(torch.autograd.Function):
    """One id per feature: ``weight[rows]`` forward; backward hands the owner each lookup's gradient row."""

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
        values = grad.reshape(-1, weight.shape[1]).to(weight.dtype)  # a view when contiguous float32
        with torch.no_grad():
            ctx.owner.apply_update(weight, flat, values)
        return None, None, None


class _BagUpdateInBackward(torch.autograd.Function):
    """Multi-hot ids: one ``embedding_bag`` (sum) forward over ``(F * B)`` bags; backward hands the owner
    every id's gradient (its bag's gradient row)."""

    @staticmethod
    def forward(ctx, weight: torch.Tensor, rows: torch.Tensor, offsets: torch.Tensor,  # type: ignore[override]
                owner: "JointSgdInBackward"):
        ctx.save_for_backward(rows, offsets)
        ctx.owner, ctx.weight = owner, weight
        return functional.embedding_bag(rows, weight, offsets[:-1], mode="sum")

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        rows, offsets = ctx.saved_tensors
        weight = ctx.weight
        bag_of_id = torch.arange(offsets.numel() - 1, device=rows.device).repeat_interleave(offsets.diff())
        values = grad.to(weight.dtype).index_select(0, bag_of_id)
        with torch.no_grad():
            ctx.owner.apply_update(weight, rows, values)
        return None, None, None, None


class JointSgdInBackward(JointEmbedding):
    """One joint table; SGD applied to the touched rows inside backward (see the module docstring)."""

    applies_own_optimizer = True
    plugin_name, optimizer_name = "joint_sgd_in_backward", "SGD"

    def __init__(self, table_sizes: list[int], dim: int, hash_indices: bool = False, options: object = None) -> None:
        super().__init__(table_sizes, dim, hash_indices, options)
        self.gather: Gather = getattr(options, "gather", "index_select")
        self._lr: float | None = None

    @property
    def learning_rate(self) -> float:
        if self._lr is None:
            raise RuntimeError(f"{self.plugin_name} applies {self.optimizer_name} inside backward: the training loop "
                               "must call set_learning_rate(lr) on it before each step")
        return self._lr

    def set_learning_rate(self, lr: float) -> None:
        self._lr = float(lr)

    def apply_update(self, weight: torch.Tensor, rows: torch.Tensor, values: torch.Tensor) -> None:
        """``weight[rows] -= lr * values``, duplicates adding up (an uncoalesced COO view, no copy)."""
        update = torch.sparse_coo_tensor(rows.unsqueeze(0), values, weight.shape, check_invariants=False)
        weight.add_(update, alpha=-self.learning_rate)

    def forward(self, categorical: Any) -> torch.Tensor:
        ids = self.prepare_indices(categorical)
        training = torch.is_grad_enabled() and self.weight.requires_grad
        if isinstance(ids, SparseFeatures):
            rows = ids.values + self.offsets[ids.feature_of_values()]
            offsets = ids.bag_offsets()
            if training:
                self.learning_rate  # fail before the step, not inside backward
                pooled = _BagUpdateInBackward.apply(self.weight, rows, offsets, self)
            else:
                pooled = functional.embedding_bag(rows, self.weight, offsets[:-1], mode="sum")
            return pooled.view(ids.num_features, ids.batch_size, self.dim).transpose(0, 1)
        rows = ids + self.offsets
        if not training:
            return gather_rows(self.weight, rows.reshape(-1), self.gather).view(*rows.shape, self.dim)
        self.learning_rate  # fail before the step, not inside backward
        return _GatherUpdateInBackward.apply(self.weight, rows, self)


class JointAdagradInBackward(JointSgdInBackward):
    """One joint table; exact Adagrad applied to the touched rows inside backward (module docstring)."""

    plugin_name, optimizer_name = "joint_adagrad_in_backward", "Adagrad"

    def __init__(self, table_sizes: list[int], dim: int, hash_indices: bool = False, options: object = None,
                 eps: float | None = None) -> None:
        super().__init__(table_sizes, dim, hash_indices, options)
        self.eps = ADAGRAD_EPS if eps is None else eps
        # the accumulator: moves with the module and is saved with it, so a checkpoint resumes Adagrad
        self.register_buffer("state_sum", torch.zeros_like(self.weight))

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args: Any, **kwargs: Any) -> None:
        """A checkpoint without the accumulator (weights of ``joint``, say) loads; Adagrad starts afresh."""
        state_dict.setdefault(prefix + "state_sum", torch.zeros_like(self.state_sum))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def apply_update(self, weight: torch.Tensor, rows: torch.Tensor, values: torch.Tensor) -> None:
        from dlrmbench.model.adagrad import exact_adagrad_ids_

        exact_adagrad_ids_(weight, self.state_sum, rows, values, self.learning_rate, self.eps)

    def optimizer_state_bytes(self, state_bytes_per_parameter: float = 0.0) -> int:
        return int(self.state_sum.numel() * self.state_sum.element_size())
