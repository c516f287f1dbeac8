"""One HSTU training and evaluation loop over :class:`UserSequences` (the family's runner).

Each step: a batch of users' training histories, ``num_negatives`` uniform negatives per position (drawn from a
generator seeded by ``seed`` and the step, so a run is reproducible), the sampled-softmax loss, backward, the
optimizers' step. Evaluation ranks every user's held-out last item (the reference's leave-one-out protocol).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Sequence

import torch

from dlrmbench_plugins.families.hstu.config import HSTUModelConfig, HSTUOptimizerConfig
from dlrmbench_plugins.families.hstu.metrics import DEFAULT_KS, retrieval_metrics
from dlrmbench_plugins.families.hstu.model import HSTURetrieval, retrieval_ranks, sample_negatives
from dlrmbench_plugins.families.hstu.optim import build_optimizers
from dlrmbench_plugins.families.hstu.sequences import UserSequences


@dataclass
class TrainResult:
    """What a run measured: per-step losses, samples (users) and tokens (history items), time, quality."""

    losses: list[float] = field(default_factory=list)
    samples: int = 0
    tokens: int = 0
    seconds: float = 0.0
    metrics: dict[str, float] = field(default_factory=dict)


def build_model(cfg: HSTUModelConfig, opt: HSTUOptimizerConfig, seed: int, device: str = "cpu"):
    """The model (initialised from ``seed``) and its optimizers."""
    torch.manual_seed(seed)
    model = HSTURetrieval(cfg, device=device, sparse_table=opt.embedding == "rowwise_adagrad").to(device)
    return model, build_optimizers(model, opt, model.item_emb)


def train(model: HSTURetrieval, optimizers: Sequence[torch.optim.Optimizer], data: UserSequences,
          batch_size: int, epochs: int = 1, max_steps: int | None = None, seed: int = 0, rank: int = 0,
          world_size: int = 1) -> TrainResult:
    """Train ``epochs`` passes (or ``max_steps`` steps) over the users' training histories.

    Data parallel (``world_size`` > 1, a torch.distributed group already initialised): each step takes a global
    batch of ``batch_size * world_size`` users, rank r the r-th slice; the negatives are drawn for the global
    batch and sliced, the loss is the global mean over positions (each rank backpropagates its sum over the
    global count, gradients are summed across ranks), so the ranks take the steps one process would take with
    the global batch. (The reference's DDP averages per-rank means instead.) Exact only with dropout 0, as
    dropout masks depend on the process's random stream. Sparse table gradients are summed densely.
    """
    cfg = model.cfg
    result = TrainResult()
    model.train()
    step = 0
    start = time.perf_counter()
    for epoch in range(epochs):
        for users in data.user_chunks(batch_size * world_size, shuffle=True, seed=seed + epoch):
            if max_steps is not None and step >= max_steps:
                break
            whole = data.batch(users, "train", cfg.max_sequence_length)
            g = torch.Generator(device=data.all_item_ids.device).manual_seed(seed * 1_000_003 + step)
            negatives = sample_negatives(whole.num_items, cfg.num_negatives, data.all_item_ids, g)
            mine = slice(min(rank * batch_size, users.numel()), min((rank + 1) * batch_size, users.numel()))
            batch = data.batch(users[mine], "train", cfg.max_sequence_length)
            lo, hi = int(whole.offsets[mine.start]), int(whole.offsets[mine.stop])
            for opt in optimizers:
                opt.zero_grad(set_to_none=True)
            loss_sum = (model.sampled_softmax_loss(batch, negatives[lo:hi], reduction="sum") if hi > lo
                        else sum(p.sum() * 0 for p in model.parameters()))
            (loss_sum / whole.num_items).backward()
            total = loss_sum.detach().clone()
            if world_size > 1:
                _sum_across_ranks(model, total)
            for opt in optimizers:
                opt.step()
            result.losses.append(float(total) / whole.num_items)
            result.samples += whole.batch_size
            result.tokens += whole.num_items
            step += 1
    result.seconds = time.perf_counter() - start
    return result


def _sum_across_ranks(model: HSTURetrieval, loss_sum: torch.Tensor) -> None:
    import torch.distributed as dist

    for p in model.parameters():
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        elif p.grad.is_sparse:
            p.grad = p.grad.to_dense()
        dist.all_reduce(p.grad)
    dist.all_reduce(loss_sum)


def evaluate(model: HSTURetrieval, data: UserSequences, batch_size: int,
             ks: Sequence[int] = DEFAULT_KS) -> dict[str, float]:
    """HR@K, NDCG@K and MRR of every user's last item against the whole catalogue minus their history."""
    model.eval()
    ranks = [retrieval_ranks(model, b, data.all_item_ids)
             for b in data.batches("eval", batch_size, model.cfg.max_sequence_length, shuffle=False)]
    model.train()
    return retrieval_metrics(torch.cat(ranks), ks)
