"""Evaluation on the test split: the family's metrics over every test sample, on the device.

The family turns each batch's outputs into per-sample rows (:meth:`WorkloadFamily.eval_rows`); the rows
are concatenated over the split (and, on several ranks, gathered in the global order by the topology)
and scored once by :meth:`WorkloadFamily.metrics`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Callable

import torch

from dlrmbench.plugin_api import BatchStream
from dlrmbench.workload.precision import PrecisionPolicy


@dataclass
class Evaluation:
    """One evaluation: the family's metrics (DLRM: ``auc``, ``log_loss``) and the samples scored."""

    metrics: dict[str, float]
    samples: int

    def record(self) -> dict[str, Any]:
        """The metrics and the sample count, as a result's evaluation record holds them."""
        return {**self.metrics, "samples": self.samples}


def predict_rows(family: Any, model: torch.nn.Module, batches: BatchStream, device: torch.device,
                 policy: PrecisionPolicy, limit: int | None = None,
                 target: Callable[[Any], Any] | None = None, local: Callable[[Any], Any] | None = None
                 ) -> dict[str, torch.Tensor]:
    """The family's per-sample rows over the first ``limit`` batches (all when None), concatenated.

    ``local(batch)`` is what this process computes on (a data-parallel rank's slice; default: the batch),
    ``target(batch)`` what its outputs are scored against (a hybrid-parallel rank's slice of the labels;
    default: the family's target of the local batch).
    """
    was_training = model.training
    model.eval()
    parts: dict[str, list[torch.Tensor]] = {}
    try:
        with torch.no_grad(), policy.autocast():
            for batch in itertools.islice(batches, limit):
                batch = batch.to(device, non_blocking=True)
                batch = local(batch) if local is not None else batch
                outputs = model(*family.model_inputs(batch))
                rows = family.eval_rows(outputs, target(batch) if target is not None else family.target(batch))
                for name, values in rows.items():
                    parts.setdefault(name, []).append(values.reshape(-1))
    finally:
        model.train(was_training)
    if not parts:
        raise ValueError("the test split has no complete batch; lower test_batch_size")
    return {name: torch.cat(values) for name, values in parts.items()}


def score(family: Any, rows: dict[str, torch.Tensor]) -> Evaluation:
    """The family's metrics of ``rows`` (every rank's, in order) and the number of samples scored."""
    samples = int(next(iter(rows.values())).numel())
    return Evaluation(metrics={k: float(v) for k, v in family.metrics(rows).items()}, samples=samples)


def evaluate(family: Any, model: torch.nn.Module, batches: BatchStream, device: torch.device,
             policy: PrecisionPolicy, limit: int | None = None) -> Evaluation:
    """The family's metrics of ``model`` on ``batches`` (one process)."""
    return score(family, predict_rows(family, model, batches, device, policy, limit))
