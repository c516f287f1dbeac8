"""The HSTU family's quality metrics: retrieval (HR@K, NDCG@K, MRR) and ranking (NE, AUC, GAUC per task).

Retrieval follows GR ``research/data/eval.py`` (``eval_metrics_v2_from_tensors``): from each user's target rank r
(1 = best; ranks past the top-k cap count as cap + 1), HR@K = 1[r <= K], NDCG@K = 1/log2(r + 1) if r <= K else 0,
MRR = 1/r, each averaged over users. Ranking metrics follow TorchRec (``torchrec/metrics/ne.py``, ``gauc.py``), the
metrics DLRMv3 logs: NE = sum w CE(p, y) / sum w CE(p_bar, y) with p clamped to [eta, 1 - eta], p_bar the weighted
positive rate; GAUC = the AUC of each request over its candidates, averaged over the requests that have both
labels and more than one distinct prediction.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

from dlrmbench.metrics.auc import roc_auc

DEFAULT_KS: tuple[int, ...] = (10, 50, 200)


def retrieval_metrics(ranks: torch.Tensor, ks: Sequence[int] = DEFAULT_KS) -> dict[str, float]:
    """``hr@K``, ``ndcg@K`` for each K, and ``mrr``, averaged over the (B,) ``ranks`` (1 = best)."""
    r = ranks.detach().to(torch.float64).reshape(-1)
    if r.numel() == 0:
        raise ValueError("no ranks: retrieval metrics need at least one evaluated user")
    if bool((r < 1).any()):
        raise ValueError("ranks start at 1")
    out: dict[str, float] = {}
    for k in ks:
        hit = r <= k
        out[f"hr@{k}"] = float(hit.double().mean())
        out[f"ndcg@{k}"] = float(torch.where(hit, 1.0 / torch.log2(r + 1), torch.zeros_like(r)).mean())
    out["mrr"] = float((1.0 / r).mean())
    return out


def random_hr(k: int, num_candidates: int) -> float:
    """HR@K of a random ranking over ``num_candidates`` items: K / candidates (1 when K covers them all)."""
    return min(1.0, k / num_candidates)


def normalized_entropy(probs: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor | None = None,
                       eta: float = 1e-12) -> float:
    """TorchRec's NE: the weighted cross-entropy of ``probs`` over that of the weighted positive rate."""
    p = probs.detach().reshape(-1).to(torch.float64).clamp(eta, 1 - eta)
    y = labels.detach().reshape(-1).to(torch.float64)
    w = torch.ones_like(y) if weights is None else weights.detach().reshape(-1).to(torch.float64)
    if not bool(torch.isfinite(p).all()):
        raise ValueError("predictions are not all finite (NaN or infinity): no NE")
    ce = -(w * y * torch.log2(p) + w * (1 - y) * torch.log2(1 - p)).sum()
    pos, neg = (w * y).sum(), (w * (1 - y)).sum()
    mean = (pos / (pos + neg)).clamp(eta, 1 - eta)
    norm = -(pos * torch.log2(mean) + neg * torch.log2(1 - mean))
    return float(ce / norm)


def accuracy(probs: torch.Tensor, labels: torch.Tensor, threshold: float = 0.5) -> float:
    """TorchRec's accuracy (``accuracy.py``, unit weights): the share of rows where (p >= threshold) equals the
    label."""
    p = probs.detach().reshape(-1).to(torch.float64)
    y = labels.detach().reshape(-1).to(torch.float64)
    if p.numel() == 0:
        raise ValueError("no predictions: accuracy needs at least one row")
    return float(((p >= threshold).to(torch.float64) == y).to(torch.float64).mean())


def per_task_auc(probs: torch.Tensor, labels: torch.Tensor, tasks: Sequence[str]) -> dict[str, float]:
    """``auc/<task>`` over all rows, for (N, T) predictions and labels (NaN when a task has one class)."""
    if probs.shape != labels.shape or probs.dim() != 2 or probs.shape[1] != len(tasks):
        raise ValueError(f"expected (N, {len(tasks)}) predictions and labels, got {tuple(probs.shape)} and "
                         f"{tuple(labels.shape)}")
    return {f"auc/{t}": roc_auc(probs[:, i], labels[:, i]) for i, t in enumerate(tasks)}


def grouped_auc(probs: torch.Tensor, labels: torch.Tensor, offsets: torch.Tensor) -> float:
    """GAUC: mean AUC of each request (rows offsets[i]:offsets[i+1]); requests with one label class or all-equal
    predictions are skipped; NaN when none is left."""
    values = []
    bounds = offsets.tolist()
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        p, y = probs[lo:hi], labels[lo:hi]
        if hi - lo < 2 or bool((y == y[0]).all()) or bool((p == p[0]).all()):
            continue
        values.append(roc_auc(p, y))
    return sum(values) / len(values) if values else math.nan
