"""Hybrid-parallel training and evaluation of one rank, every rank in lock step.

The loop is the single one of :func:`dlrmbench.workload.train.train`, over the
:class:`~dlrmbench.distributed.topology.HybridParallel` topology. What differs (facts sheet section 5):

* the loss of rank r is the mean over its slice, scaled by ``b_r * W / B``. DDP averages the top
  model's gradients over ranks, which gives the global-batch mean gradient exactly even when the
  slices are unequal (the reference's split is equal whenever it can be, and then the scale is 1);
* the bottom MLP and the tables get no all-reduce: their gradients arrive through the exchange as a
  sum over ranks, which its backward divides by ``W`` into the global-mean gradient, so every group
  runs at the case's learning rate, whatever the optimizer (NVIDIA's reference keeps the sum and
  runs SGD at ``lr / W``: the same for SGD, not for Adagrad);
* reported losses are the global-batch mean (the ranks' slice means weighted by ``b_r / B``,
  all-reduced once per progress window, not every step).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from dlrmbench.config.schema import Case
from dlrmbench.distributed.hybrid_layout import HybridParallel, gather_evaluation
from dlrmbench.distributed.model import DistributedDlrm
from dlrmbench.workload.evaluate import Evaluation
from dlrmbench.workload.reporter import Reporter
from dlrmbench.workload.train import TrainOutcome


@dataclass
class DistributedWorkload:
    """One rank's share of a case."""

    case: Case
    device: torch.device
    dataset: Any
    model: DistributedDlrm
    table_sizes: list[int]
    rank: int
    world_size: int
    family: Any
    resolved: Any


DistributedTrainOutcome = TrainOutcome  # ``losses``: every step's global-batch mean loss (the same on every rank)


def evaluate_distributed(work: DistributedWorkload, policy: Any, limit: int | None = None,
                         batches: Any = None) -> Evaluation:
    """AUC and log loss over the test split: every rank predicts its slices, logits gathered in order.

    Every rank computes the same metrics from the same gathered tensors (no broadcast needed).
    """
    if batches is None:
        batches = work.dataset.batches("test", work.case.eval_batch_size, work.device)
    return gather_evaluation(work.family, work.model, batches, work.device, policy, limit)  # one rule for both callers


def peak_memory_bytes(device: torch.device) -> int:
    """Peak memory of this rank (the device table's measure: CUDA peak allocated, or the CPU's peak RSS)."""
    from dlrmbench.devices import device_type_of

    return device_type_of(device).peak_memory(device)[0]


def make_optimizer(model: DistributedDlrm, world_size: int, resolved: Any = None) -> torch.optim.Optimizer:
    """The optimizer over the hybrid-parallel groups (all at the case's lr: every gradient is the global mean):
    the resolved case's optimizer plugin, or plain SGD without one (benchmarks)."""
    groups = HybridParallel(model).parameter_groups(model)
    if resolved is None:
        return torch.optim.SGD([g for g in groups if g["params"]], lr=0.0)
    from dlrmbench.workload.build import build_optimizer

    return build_optimizer(resolved, groups)


def train_distributed(work: DistributedWorkload, reporter: Reporter, mlperf: Any = None) -> DistributedTrainOutcome:
    """Train this rank's part with the one training loop, over the hybrid-parallel topology (``mlperf``:
    rank 0's MLLOG, None on the others)."""
    from dlrmbench.workload.train import train

    return train(work, reporter, mlperf, layout=HybridParallel(work.model))  # type: ignore[arg-type]
