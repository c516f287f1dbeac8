"""Evaluation on the test split: AUC and log loss over every test sample, on the device."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch

from dlrmbench.metrics.auc import NonFiniteScores, log_loss, roc_auc
from dlrmbench.plugin_api import BatchStream
from dlrmbench.workload.precision import PrecisionPolicy


@dataclass
class Evaluation:
    auc: float
    log_loss: float
    samples: int


def predict(model: torch.nn.Module, batches: BatchStream, device: torch.device, policy: PrecisionPolicy,
            limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and labels of the first ``limit`` batches (all when None), concatenated."""
    was_training = model.training
    model.eval()
    logits, labels = [], []
    try:
        with torch.no_grad(), policy.autocast():
            for batch in itertools.islice(batches, limit):
                batch = batch.to(device, non_blocking=True)
                logits.append(model(batch.numerical, batch.categorical).float())
                labels.append(batch.label)
    finally:
        model.train(was_training)
    if not logits:
        raise ValueError("the test split has no complete batch; lower test_batch_size")
    return torch.cat(logits), torch.cat(labels)


def evaluate(model: torch.nn.Module, batches: BatchStream, device: torch.device, policy: PrecisionPolicy,
             limit: int | None = None) -> Evaluation:
    """AUC (ties collapsed, facts sheet 2.4) and log loss of ``model`` on ``batches``."""
    logits, labels = predict(model, batches, device, policy, limit)
    return score(logits, labels)


def score(logits: torch.Tensor, labels: torch.Tensor) -> Evaluation:
    """AUC and log loss of ``logits`` against ``labels``; refuses non-finite scores."""
    bad = ~torch.isfinite(logits)
    if bool(bad.any()):  # an AUC over NaN scores is a number, and a wrong one: fail the evaluation instead
        raise NonFiniteScores(int(bad.sum()), logits.numel(), int(bad.reshape(-1).nonzero()[0]))
    return Evaluation(auc=roc_auc(logits, labels), log_loss=log_loss(logits, labels), samples=int(labels.numel()))
