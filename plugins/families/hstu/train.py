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
          batch_size: int, epochs: int = 1, max_steps: int | None = None, seed: int = 0) -> TrainResult:
    """Train ``epochs`` passes (or ``max_steps`` steps) over the users' training histories (one process; data
    parallel runs go through dlrmbench's ``data_parallel`` topology, see _family.py)."""
    cfg = model.cfg
    result = TrainResult()
    model.train()
    step = 0
    start = time.perf_counter()
    for epoch in range(epochs):
        for batch in data.batches("train", batch_size, cfg.max_sequence_length, shuffle=True, seed=seed + epoch):
            if max_steps is not None and step >= max_steps:
                break
            g = torch.Generator(device=data.all_item_ids.device).manual_seed(seed * 1_000_003 + step)
            negatives = sample_negatives(batch.num_items, cfg.num_negatives, data.all_item_ids, g)
            for opt in optimizers:
                opt.zero_grad(set_to_none=True)
            loss = model.sampled_softmax_loss(batch, negatives)
            loss.backward()
            for opt in optimizers:
                opt.step()
            result.losses.append(loss.item())
            result.samples += batch.batch_size
            result.tokens += batch.num_items
            step += 1
    result.seconds = time.perf_counter() - start
    return result


def evaluate(model: HSTURetrieval, data: UserSequences, batch_size: int,
             ks: Sequence[int] = DEFAULT_KS) -> dict[str, float]:
    """HR@K, NDCG@K and MRR of every user's last item against the whole catalogue minus their history."""
    model.eval()
    ranks = [retrieval_ranks(model, b, data.all_item_ids)
             for b in data.batches("eval", batch_size, model.cfg.max_sequence_length, shuffle=False)]
    model.train()
    return retrieval_metrics(torch.cat(ranks), ks)
