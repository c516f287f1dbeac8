"""The all-to-all between model-parallel lookups and data-parallel interaction, as an autograd Function.

Forward (the reference's ``BottomToTop``): rank r holds ``(B_global, v_r, D)`` (its tables, plus the
bottom MLP on rank 0, over the whole global batch). Its batch chunk k, ``(b_k, v_r, D)``, goes to
rank k; rank r receives ``(b_r, v_k, D)`` from every k and concatenates along the vectors:
``(b_r, sum v, D)``, rank 0's vectors first. Backward reverses it: the gradient ``(b_r, sum v, D)``
is cut by columns into ``(b_r, v_k, D)`` pieces sent back to rank k, which stacks them along the
batch into ``(B_global, v_r, D)``, divided by ``W``. One ``all_to_all_single`` on flat buffers each way (gloo and
NCCL both implement it); a rank with no vectors sends and receives empty pieces.

Why ``1 / W`` in the backward: rank r's loss is its slice mean weighted by ``b_r * W / B`` (so that
DDP's average gives the top model the global-batch mean gradient), hence the gradients that arrive
here sum to ``W`` times the global-batch mean gradient. Dividing them once makes the bottom MLP and
the tables receive exactly the gradient single-process training on the global batch computes, so
every optimizer is right at the learning rate the case names: NVIDIA's reference instead keeps the
sum and runs SGD at ``lr / W``, which is the same for SGD but wrong for Adagrad: its update
``lr * g / (sqrt(sum g^2) + eps)`` barely changes when ``g`` is ``W`` times larger, so ``lr / W``
would make its steps about ``W`` times too short.
"""

from __future__ import annotations

import time
from typing import Any

import torch
import torch.distributed as dist


class ExchangeTimer:
    """Accumulates the wall time spent inside the exchange (forward and backward), for the bench."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.enabled = False

    def reset(self) -> None:
        self.seconds = 0.0


EXCHANGE_TIMER = ExchangeTimer()


def _all_to_all(output: torch.Tensor, send: torch.Tensor, out_splits: list[int], in_splits: list[int],
                group: Any) -> None:
    timed = EXCHANGE_TIMER.enabled
    if timed:
        if send.is_cuda:
            torch.cuda.synchronize(send.device)
        start = time.perf_counter()
    dist.all_to_all_single(output, send, out_splits, in_splits, group=group)
    if timed:
        if send.is_cuda:
            torch.cuda.synchronize(send.device)
        EXCHANGE_TIMER.seconds += time.perf_counter() - start


class BottomToTop(torch.autograd.Function):
    """``(B_global, v_r, D)`` on every rank -> ``(b_r, sum v, D)``; see the module docstring."""

    @staticmethod
    def forward(ctx: Any, local: torch.Tensor, batch_sizes: list[int], vectors: list[int], rank: int,
                group: Any = None) -> torch.Tensor:
        dim = local.shape[2]
        ctx.batch_sizes, ctx.vectors, ctx.rank, ctx.group, ctx.dim = batch_sizes, vectors, rank, group, dim
        mine = batch_sizes[rank]
        send = local.contiguous().reshape(-1)  # batch-major: chunk k is contiguous
        in_splits = [b * vectors[rank] * dim for b in batch_sizes]
        out_splits = [mine * v * dim for v in vectors]
        received = local.new_empty(sum(out_splits))
        _all_to_all(received, send, out_splits, in_splits, group)
        pieces = [p.view(mine, v, dim) for p, v in zip(received.split(out_splits), vectors)]
        return torch.cat(pieces, dim=1)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, ...]:
        batch_sizes, vectors, rank, dim = ctx.batch_sizes, ctx.vectors, ctx.rank, ctx.dim
        mine = batch_sizes[rank]
        send = torch.cat([g.reshape(-1) for g in grad.split(vectors, dim=1)])  # column pieces, flattened
        in_splits = [mine * v * dim for v in vectors]
        out_splits = [b * vectors[rank] * dim for b in batch_sizes]
        received = grad.new_empty(sum(out_splits))
        _all_to_all(received, send, out_splits, in_splits, ctx.group)
        total = sum(batch_sizes)
        received.mul_(1.0 / len(batch_sizes))  # the sum over ranks -> the global-batch mean gradient
        return received.view(total, vectors[rank], dim), None, None, None, None


def bottom_to_top(local: torch.Tensor, batch_sizes: list[int], vectors: list[int], rank: int,
                  group: Any = None) -> torch.Tensor:
    """Exchange ``local (B_global, v_rank, D)`` for this rank's slice of every vector ``(b_rank, sum v, D)``."""
    if len(batch_sizes) == 1:
        return local
    return BottomToTop.apply(local, batch_sizes, vectors, rank, group)
