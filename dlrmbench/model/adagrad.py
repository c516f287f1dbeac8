"""Adagrad as the MLPerf DLRMv2 reference trains with it (imports torch).

The reference (``mlcommons/training:recommendation_v2/torchrec_dlrm/dlrm_main.py``) uses
``torch.optim.Adagrad`` for the dense layers and FBGEMM's fused ``EXACT_ADAGRAD`` for the embedding
tables (applied in the backward through ``apply_optimizer_in_backward``); lr_decay 0, weight_decay 0,
initial accumulator 0, no warm-up or decay. Epsilon is 1e-8: the reference's ``ADAGRAD_EPS``
(``dlrm_main.py@f41be00c``; older commits, e.g. 3264b4fb, had 1e-10), what the MLPerf compliance checker
requires (``opt_adagrad_epsilon == 1e-8``) and what NVIDIA logs.

Embedding tables get :class:`RowSparseAdagrad`: it touches only the rows in the batch. "Exact" as in
FBGEMM: the gradients of a row that occurs several times in the batch are summed first, then the
row's accumulator and weights are updated once::

    G[r] += g[r] ** 2            (element-wise, per touched row r)
    w[r] -= lr * g[r] / (sqrt(G[r]) + eps)

which is what ``torch.optim.Adagrad`` computes on the dense gradient (zero rows leave ``G`` and ``w``
unchanged), at the cost of the touched rows only. ``fused=True`` applies it inside the backward, as
soon as a table's gradient is accumulated, and frees the gradient (optimizer in backward).
"""

from __future__ import annotations

from typing import Iterable

import torch
from torch import nn

ADAGRAD_EPS = 1e-8  # MLPerf checker value (training rules; reference/mlperf-logging.md section 12)


def exact_adagrad_rows_(weight: torch.Tensor, state_sum: torch.Tensor, grad: torch.Tensor, lr: float,
                        eps: float = ADAGRAD_EPS) -> None:
    """Update ``weight`` and ``state_sum`` in place for the rows a (sparse or dense) ``grad`` touches."""
    if grad.is_sparse:
        grad = grad.coalesce()  # duplicates summed: one exact update per row
        rows, values = grad.indices()[0], grad.values()
    else:  # a dense gradient: only rows with a non-zero entry are touched
        rows = grad.abs().sum(dim=tuple(range(1, grad.dim()))).nonzero().squeeze(1) if grad.dim() > 1 \
            else grad.nonzero().squeeze(1)
        values = grad.index_select(0, rows)
    adagrad_unique_rows_(weight, state_sum, rows, values, lr, eps)


def adagrad_unique_rows_(weight: torch.Tensor, state_sum: torch.Tensor, rows: torch.Tensor, values: torch.Tensor,
                         lr: float, eps: float = ADAGRAD_EPS) -> None:
    """The exact update of distinct ``rows`` with their (already summed) gradient ``values``."""
    if rows.numel() == 0:
        return
    step = adagrad_row_steps_(state_sum, rows, values, eps)
    weight.index_add_(0, rows, step.to(weight.dtype), alpha=-lr)


def adagrad_row_steps_(state_sum: torch.Tensor, rows: torch.Tensor, values: torch.Tensor,
                       eps: float = ADAGRAD_EPS, overwrite: bool = False) -> torch.Tensor:
    """Accumulate the summed gradients ``values`` of distinct ``rows`` into ``state_sum`` and return each
    row's step ``g / (sqrt(G) + eps)`` (the weight moves by ``-lr`` times it). ``overwrite``: the step is
    written into ``values`` (a caller's scratch tensor of ``state_sum``'s dtype), sparing two (rows, D)
    temporaries; the same operations in the same order, so the same numbers."""
    values = values.to(state_sum.dtype)
    acc = state_sum.index_select(0, rows).add_(values * values)
    state_sum.index_copy_(0, rows, acc)
    denominator = acc.sqrt_().add_(eps)
    return values.div_(denominator) if overwrite else values / denominator


def exact_adagrad_ids_(weight: torch.Tensor, state_sum: torch.Tensor, rows: torch.Tensor, values: torch.Tensor,
                       lr: float, eps: float = ADAGRAD_EPS) -> None:
    """Exact Adagrad from the raw per-lookup gradients of a backward: ``rows`` (N,) may repeat; each
    distinct row's ``values`` (N, D) are summed first (``torch.unique`` + ``index_add_``, no sparse tensor),
    then its accumulator and weights are updated once, as :func:`exact_adagrad_rows_` does."""
    if rows.numel() == 0:
        return
    unique, inverse = torch.unique(rows, return_inverse=True)
    summed = values.new_zeros((unique.numel(), *values.shape[1:])).index_add_(0, inverse, values)
    adagrad_unique_rows_(weight, state_sum, unique, summed, lr, eps)


class RowSparseAdagrad(torch.optim.Optimizer):
    """Exact Adagrad that reads and writes only the touched rows of each (embedding) parameter."""

    def __init__(self, params: Iterable[nn.Parameter], lr: float, eps: float = ADAGRAD_EPS,
                 initial_accumulator_value: float = 0.0) -> None:
        if lr < 0 or eps < 0:
            raise ValueError(f"Adagrad needs lr >= 0 and eps >= 0, got lr={lr}, eps={eps}")
        super().__init__(params, {"lr": lr, "eps": eps, "initial_accumulator_value": initial_accumulator_value})
        for group in self.param_groups:
            for p in group["params"]:
                self.state[p]["sum"] = torch.full_like(p, group["initial_accumulator_value"],
                                                       memory_format=torch.preserve_format)

    @torch.no_grad()
    def step(self, closure=None):  # type: ignore[override]
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    exact_adagrad_rows_(p, self.state[p]["sum"], p.grad, group["lr"], group["eps"])
        return loss

    def fuse_into_backward(self) -> list[torch.utils.hooks.RemovableHandle]:
        """Apply each parameter's update as soon as its gradient is accumulated, then drop the gradient;
        ``step()`` then has nothing left to do (optimizer in backward)."""
        handles = []
        for group in self.param_groups:
            for p in group["params"]:
                def hook(param: torch.Tensor, group: dict = group) -> None:
                    with torch.no_grad():
                        exact_adagrad_rows_(param, self.state[param]["sum"], param.grad, group["lr"], group["eps"])
                    param.grad = None
                handles.append(p.register_post_accumulate_grad_hook(hook))
        return handles


class DlrmAdagrad:
    """Dense parameters with ``torch.optim.Adagrad``, embedding tables with :class:`RowSparseAdagrad`.

    Exposes ``step``, ``zero_grad`` and ``param_groups`` (both optimizers' groups: a learning-rate
    schedule sets ``group["lr"]`` on every one), so a loop that drives an SGD drives this too.
    """

    def __init__(self, dense: list[nn.Parameter], sparse: list[nn.Parameter], lr: float, eps: float = ADAGRAD_EPS,
                 fused: bool = False) -> None:
        self.dense = torch.optim.Adagrad(dense, lr=lr, lr_decay=0.0, weight_decay=0.0,
                                         initial_accumulator_value=0.0, eps=eps) if dense else None
        self.sparse = RowSparseAdagrad(sparse, lr=lr, eps=eps) if sparse else None
        self._hooks = self.sparse.fuse_into_backward() if (fused and self.sparse is not None) else []

    @property
    def param_groups(self) -> list[dict]:
        return [g for opt in (self.dense, self.sparse) if opt is not None for g in opt.param_groups]

    def step(self) -> None:
        for opt in (self.dense, self.sparse):
            if opt is not None:
                opt.step()

    def zero_grad(self, set_to_none: bool = True) -> None:
        for opt in (self.dense, self.sparse):
            if opt is not None:
                opt.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict:
        return {"dense": self.dense.state_dict() if self.dense else None,
                "sparse": self.sparse.state_dict() if self.sparse else None}


class GroupedAdagrad(torch.optim.Optimizer):
    """One optimizer over the loop's parameter groups: ``sparse`` groups (tables) get the exact row-sparse
    update, dense groups the update of ``torch.optim.Adagrad`` (lr_decay 0, weight decay 0), both from an
    accumulator starting at 0. Groups keep their extra keys (``sparse``, ``lr_scale``)."""

    def __init__(self, groups: list[dict], eps: float = ADAGRAD_EPS) -> None:
        super().__init__(groups, {"lr": 0.0, "eps": eps, "sparse": False})
        for group in self.param_groups:
            for p in group["params"]:
                self.state[p]["sum"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                self.state[p]["step"] = 0

    @torch.no_grad()
    def step(self, closure=None):  # type: ignore[override]
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            lr, eps = group["lr"], group["eps"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                state["step"] += 1
                if p.grad.is_sparse or group.get("sparse"):
                    exact_adagrad_rows_(p, state["sum"], p.grad, lr, eps)
                else:  # torch.optim.Adagrad's dense update
                    state["sum"].addcmul_(p.grad, p.grad, value=1.0)
                    p.addcdiv_(p.grad, state["sum"].sqrt().add_(eps), value=-lr)
        return loss


def adagrad_state_bytes(parameter_bytes: int) -> int:
    """Optimizer state of Adagrad: one accumulator per weight, the same bytes again (fp32 weights)."""
    return parameter_bytes
