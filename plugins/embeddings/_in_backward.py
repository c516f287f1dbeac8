"""Implementation of ``joint_sgd_in_backward`` and ``joint_adagrad_in_backward`` (imports torch).

The joint table of ``joint_sparse`` (same rows, offsets, initialisation), but its backward updates the
rows the batch touched itself: the table never carries a ``.grad`` (the harness's optimizer skips it),
nothing is kept until the optimizer step. The learning rate of each step comes from the training loop
(the contract's ``applies_own_optimizer`` / ``set_learning_rate``). One ``embedding_bag`` (sum) forward
serves multi-hot ids.

``row_update: fused`` (:mod:`._row_update`; ``auto``, the default, picks it except for one-hot SGD on a
float32 table): the ids are sorted, each distinct row's
gradients summed (one ``embedding_bag`` over the gradient rows; a multi-hot bag's gradient is read
through its ids' bag numbers, never copied per id), and each row written once in the table's dtype:
``w[r] -= lr g`` (SGD) or FBGEMM's ``EXACT_ADAGRAD`` ``G[r] += g^2; w[r] -= lr g / (sqrt(G[r]) + eps)``
with a float32 accumulator ``G`` kept by the strategy (eps from the case's ``adagrad`` options).
``table_dtype: bfloat16 | float16`` stores the table in 16 bits; each updated row is computed in float32
and rounded once, stochastically as FBGEMM rounds (``rounding``), and lookups come out in the step's
compute dtype (no cast under autocast of the table's dtype).

``row_update: scatter`` is the path before it (float32 tables): every lookup's gradient row applied on its
own, SGD through PyTorch's dense += uncoalesced COO kernel, Adagrad through ``torch.unique`` +
``index_add_`` over per-id rows (a multi-hot bag's gradient expanded to each of its ids).
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import nn
from torch.nn import functional

from dlrmbench.batch import SparseFeatures
from dlrmbench.model.adagrad import ADAGRAD_EPS
from dlrmbench.model.embeddings import uniform_table_init_
from dlrmbench.plugin_api import BuildContext
from dlrmbench_plugins.embeddings._row_update import (
    TABLE_DTYPES, adagrad_rows_, group_rows, make_rounding, sgd_rows_, summed_gradients,
)
from dlrmbench_plugins.embeddings._tables import JointEmbedding

Gather = Literal["index_select", "embedding_bag"]
RowUpdate = Literal["auto", "fused", "scatter"]


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
    """One id per feature: ``weight[rows]`` forward (in ``dtype``); backward hands the owner each lookup's
    gradient row."""

    @staticmethod
    def forward(ctx, weight: torch.Tensor, rows: torch.Tensor, owner: "JointSgdInBackward",  # type: ignore[override]
                dtype: torch.dtype):
        flat = rows.reshape(-1)
        ctx.save_for_backward(flat)
        ctx.owner = owner
        ctx.weight = weight  # updated in place in backward: not a saved tensor (no version check)
        return gather_rows(weight, flat, owner.gather).to(dtype).view(*rows.shape, weight.shape[1])

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        (flat,) = ctx.saved_tensors
        with torch.no_grad():
            ctx.owner.apply_lookup_gradients(ctx.weight, flat, grad.reshape(-1, ctx.weight.shape[1]))
        return None, None, None, None


class _BagUpdateInBackward(torch.autograd.Function):
    """Multi-hot ids: one ``embedding_bag`` (sum) forward over ``(F * B)`` bags; backward hands the owner
    every id's gradient (its bag's gradient row)."""

    @staticmethod
    def forward(ctx, weight: torch.Tensor, rows: torch.Tensor, offsets: torch.Tensor,  # type: ignore[override]
                owner: "JointSgdInBackward", dtype: torch.dtype):
        ctx.save_for_backward(rows, offsets)
        ctx.owner, ctx.weight = owner, weight
        return functional.embedding_bag(rows, weight, offsets[:-1], mode="sum").to(dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        rows, offsets = ctx.saved_tensors
        bag_of_id = torch.arange(offsets.numel() - 1, device=rows.device).repeat_interleave(offsets.diff())
        with torch.no_grad():
            ctx.owner.apply_lookup_gradients(ctx.weight, rows, grad, bag_of_id)
        return None, None, None, None, None


class JointSgdInBackward(JointEmbedding):
    """One joint table; SGD applied to the touched rows inside backward (see the module docstring)."""

    applies_own_optimizer = True
    plugin_name, optimizer_name = "joint_sgd_in_backward", "SGD"

    def __init__(self, table_sizes: list[int], dim: int, hash_indices: bool = False, options: object = None) -> None:
        super().__init__(table_sizes, dim, hash_indices, options)
        self.gather: Gather = getattr(options, "gather", "index_select")
        self.row_update: RowUpdate = getattr(options, "row_update", "auto")
        dtype = TABLE_DTYPES[getattr(options, "table_dtype", "float32")]
        if dtype != torch.float32:
            self.weight = nn.Parameter(torch.empty(self.weight.shape, dtype=dtype))
        self.rounder = make_rounding(dtype, getattr(options, "rounding", "stochastic"))
        self._lr: float | None = None

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """The float32 tables' initial values (same draws), rounded to nearest in a low-precision table."""
        if self.weight.dtype == torch.float32:
            super().reset_parameters(generator)
            return
        for offset, rows in zip(self.offsets.tolist(), self.table_sizes):
            block = torch.empty(rows, self.dim)
            uniform_table_init_(block, rows, generator)
            self.weight.data[offset : offset + rows] = block

    def output_dtype(self) -> torch.dtype:
        """What the lookups return: the table's dtype when it is the step's compute dtype (autocast's, or
        float32), else the compute dtype (one cast; none for a bf16 table under bf16 autocast)."""
        if self.weight.dtype == torch.float32:
            return torch.float32  # as before: autocast casts where the next layer needs it
        device = self.weight.device.type
        return torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else torch.float32

    @property
    def learning_rate(self) -> float:
        if self._lr is None:
            raise RuntimeError(f"{self.plugin_name} applies {self.optimizer_name} inside backward: the training loop "
                               "must call set_learning_rate(lr) on it before each step")
        return self._lr

    def set_learning_rate(self, lr: float) -> None:
        self._lr = float(lr)

    def apply_lookup_gradients(self, weight: torch.Tensor, ids: torch.Tensor, grad: torch.Tensor,
                               bag_of_id: torch.Tensor | None = None) -> None:
        """Update the table from one backward: ``grad`` has a row per lookup (``bag_of_id`` None) or per bag
        (multi-hot: id ``i``'s gradient is ``grad[bag_of_id[i]]``).

        ``row_update: fused``: the ids grouped by row, each row's gradients summed, each row written once
        (:mod:`._row_update`). ``scatter``: the path before it, every id's gradient row handed to
        :meth:`apply_update` (float32 tables only). ``auto``: :attr:`auto_scatter` decides."""
        if self.row_update == "scatter" or (self.row_update == "auto" and self.auto_scatter(weight, bag_of_id)):
            values = grad.to(weight.dtype)
            self.apply_update(weight, ids, values if bag_of_id is None else values.index_select(0, bag_of_id))
            return
        groups = group_rows(ids)
        self.update_rows(weight, groups.rows, summed_gradients(groups, grad, bag_of_id))

    def auto_scatter(self, weight: torch.Tensor, bag_of_id: torch.Tensor | None) -> bool:
        """``row_update: auto``: SGD scatters one-hot lookups into a float32 table (one pass fewer than
        summing duplicates first, which one-hot batches rarely have); everything else is fused."""
        return bag_of_id is None and weight.dtype == torch.float32

    def update_rows(self, weight: torch.Tensor, rows: torch.Tensor, summed: torch.Tensor) -> None:
        """SGD on distinct ``rows`` with their summed gradients, each row written once."""
        sgd_rows_(weight, rows, summed, self.learning_rate, self.rounder)

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
                pooled = _BagUpdateInBackward.apply(self.weight, rows, offsets, self, self.output_dtype())
            else:
                pooled = functional.embedding_bag(rows, self.weight, offsets[:-1], mode="sum").to(self.output_dtype())
            return pooled.view(ids.num_features, ids.batch_size, self.dim).transpose(0, 1)
        rows = ids + self.offsets
        if not training:
            flat = gather_rows(self.weight, rows.reshape(-1), self.gather).to(self.output_dtype())
            return flat.view(*rows.shape, self.dim)
        self.learning_rate  # fail before the step, not inside backward
        return _GatherUpdateInBackward.apply(self.weight, rows, self, self.output_dtype())


class JointAdagradInBackward(JointSgdInBackward):
    """One joint table; exact Adagrad applied to the touched rows inside backward (module docstring)."""

    plugin_name, optimizer_name = "joint_adagrad_in_backward", "Adagrad"

    def __init__(self, table_sizes: list[int], dim: int, hash_indices: bool = False, options: object = None,
                 eps: float | None = None) -> None:
        super().__init__(table_sizes, dim, hash_indices, options)
        self.eps = ADAGRAD_EPS if eps is None else eps
        # the accumulator (float32 whatever the table's dtype): moves with the module and is saved with it,
        # so a checkpoint resumes Adagrad
        self.register_buffer("state_sum", torch.zeros(self.weight.shape, dtype=torch.float32))

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args: Any, **kwargs: Any) -> None:
        """A checkpoint without the accumulator (weights of ``joint``, say) loads; Adagrad starts afresh."""
        state_dict.setdefault(prefix + "state_sum", torch.zeros_like(self.state_sum))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def auto_scatter(self, weight: torch.Tensor, bag_of_id: torch.Tensor | None) -> bool:
        """Adagrad must sum duplicates before its update either way: always fused."""
        return False

    def update_rows(self, weight: torch.Tensor, rows: torch.Tensor, summed: torch.Tensor) -> None:
        adagrad_rows_(weight, self.state_sum, rows, summed, self.learning_rate, self.eps, self.rounder)

    def apply_update(self, weight: torch.Tensor, rows: torch.Tensor, values: torch.Tensor) -> None:
        """The path before the fused update: every id's gradient row, summed per row by ``torch.unique``."""
        from dlrmbench.model.adagrad import exact_adagrad_ids_

        exact_adagrad_ids_(weight, self.state_sum, rows, values, self.learning_rate, self.eps)

    def optimizer_state_bytes(self, state_bytes_per_parameter: float = 0.0) -> int:
        return int(self.state_sum.numel() * self.state_sum.element_size())
