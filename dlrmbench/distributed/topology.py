"""The hybrid-parallel topology: one rank of model-parallel tables and a data-parallel top model.

What the one training loop asks of it (see :class:`dlrmbench.workload.topology.Topology`):

* the rank's loss is the mean over its slice of the global batch, weighted by ``b_r * W / B`` (DDP
  averages the top model's gradients, so this gives the global-batch mean gradient exactly);
* the bottom MLP and the tables get no all-reduce: the exchange's backward divides the sum over ranks
  by ``W``, so they too get the global-batch mean gradient and every group runs at the case's
  learning rate (``lr_scale`` 1): exact for SGD and for Adagrad, for which the reference's ``lr / W``
  rule would not be (see :mod:`dlrmbench.distributed.exchange`);
* reported losses are the global-batch mean (slice means weighted by ``b_r / B``, all-reduced once
  per progress window, not every step).
"""

from __future__ import annotations

from typing import Any, Iterator

import torch
import torch.distributed as dist

from dlrmbench.batch import Batch
from dlrmbench.distributed.model import DistributedDlrm
from dlrmbench.metrics.auc import log_loss, roc_auc
from dlrmbench.workload.evaluate import Evaluation, predict
from dlrmbench.workload.precision import PrecisionPolicy
from dlrmbench.workload.topology import split_parameters


class _LocalLabels:
    """A batch stream whose labels are this rank's slice (what the rank's logits predict)."""

    def __init__(self, batches: Any, model: DistributedDlrm) -> None:
        self.batches, self.model = batches, model

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[Batch]:
        for b in self.batches:
            yield Batch(b.numerical, b.categorical, self.model.local_slice(b.label))


def _gather_slices(tensor: torch.Tensor, sizes: list[int], group: Any) -> torch.Tensor:
    """Concatenate every rank's 1-D ``tensor`` (rank r has sizes[r] * k entries) in rank order."""
    world = len(sizes)
    if world == 1:
        return tensor
    counts = torch.tensor([tensor.numel()], device=tensor.device)
    all_counts = [torch.zeros_like(counts) for _ in range(world)]
    dist.all_gather(all_counts, counts, group=group)
    longest = int(max(c.item() for c in all_counts))
    padded = torch.zeros(longest, dtype=tensor.dtype, device=tensor.device)
    padded[: tensor.numel()] = tensor
    out = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(out, padded, group=group)
    return torch.cat([o[: int(c.item())] for o, c in zip(out, all_counts)])


def gather_evaluation(model: DistributedDlrm, batches: Any, device: torch.device, policy: Any,
                      limit: int | None = None) -> Evaluation:
    """Predict this rank's slices of ``batches``, gather every rank's in global order, score them."""
    logits, labels = predict(model, _LocalLabels(batches, model), device, policy, limit)
    # logits are [batch0 slice, batch1 slice, ...] per rank; regroup so the global order is restored
    per_batch = model.batch_sizes[model.rank]
    steps = logits.numel() // per_batch
    pieces = torch.stack([logits, labels]).reshape(2, steps, per_batch)
    gathered = _gather_slices(pieces.reshape(-1), model.batch_sizes, model.group)
    chunks, start = [], 0
    for size in model.batch_sizes:
        chunks.append(gathered[start:start + 2 * steps * size].reshape(2, steps, size))
        start += 2 * steps * size
    ordered = torch.cat(chunks, dim=2).reshape(2, -1)
    return Evaluation(auc=roc_auc(ordered[0], ordered[1]), log_loss=log_loss(ordered[0], ordered[1]),
                      samples=int(ordered.shape[1]))



class RankShare:
    """What every hybrid-parallel topology's rank shares: its slice of the global batch, its weight in the
    global mean loss, and the all-reduce of the loss window. ``model`` has ``batch_sizes``, ``rank``,
    ``group`` and ``local_slice``."""

    def __init__(self, model: Any, global_batch: int) -> None:
        self.model = model
        self.world_size = len(model.batch_sizes)
        self.share = model.batch_sizes[model.rank] / global_batch  # this rank's weight in the global mean
        self.loss_weight = self.share * self.world_size

    def labels(self, batch: Batch) -> torch.Tensor:
        return self.model.local_slice(batch.label)

    def global_losses(self, window: torch.Tensor) -> list[float]:
        window = window * self.share
        if self.world_size > 1:
            dist.all_reduce(window, group=self.model.group)
        return window.tolist()


class HybridParallel(RankShare):
    """One rank of a hybrid-parallel case (``model``: a :class:`DistributedDlrm`)."""

    def parameter_groups(self, model: torch.nn.Module) -> list[dict[str, Any]]:
        mp_scale = self.embedding_lr_scale()
        groups = [{"params": self.model.data_parallel_parameters(), "sparse": False, "lr_scale": 1.0}]
        if self.model.bottom_mlp is not None:
            groups.append({"params": [p for p in self.model.bottom_mlp.parameters() if p.requires_grad],
                           "sparse": False, "lr_scale": mp_scale})
        return groups + split_parameters(self.model.embeddings, mp_scale)

    def embeddings(self, model: torch.nn.Module) -> Any:
        return self.model.embeddings

    def embedding_lr_scale(self) -> float:
        return 1.0  # the exchange hands the tables the global-batch mean gradient

    def evaluate(self, model: torch.nn.Module, batches: Any, device: torch.device, policy: PrecisionPolicy,
                 limit: int | None) -> Evaluation:
        return gather_evaluation(self.model, batches, device, policy, limit)
