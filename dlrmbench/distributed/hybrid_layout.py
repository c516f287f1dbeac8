"""The hybrid-parallel layout: one rank of model-parallel tables and a data-parallel top model.

What the one training loop asks of it (see :class:`dlrmbench.workload.layout.Layout`):

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

from typing import Any

import torch
import torch.distributed as dist

from dlrmbench.workload.evaluate import Evaluation, predict_rows, score
from dlrmbench.workload.layout import split_parameters
from dlrmbench.workload.precision import PrecisionPolicy


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


def gather_rows(rows: dict[str, torch.Tensor], batch_sizes: list[int], rank: int, group: Any
                ) -> dict[str, torch.Tensor]:
    """Every rank's per-sample rows in the global order: rank r holds its slice (``batch_sizes[r]`` samples)
    of each evaluated batch, one after the other; the result is batch by batch, rank by rank within each."""
    names = sorted(rows)
    per_batch = batch_sizes[rank]
    steps = rows[names[0]].numel() // per_batch
    stacked = torch.stack([rows[n].float() for n in names]).reshape(len(names), steps, per_batch)
    gathered = _gather_slices(stacked.reshape(-1), batch_sizes, group)
    chunks, start = [], 0
    for size in batch_sizes:
        chunks.append(gathered[start:start + len(names) * steps * size].reshape(len(names), steps, size))
        start += len(names) * steps * size
    ordered = torch.cat(chunks, dim=2).reshape(len(names), -1)
    return {name: ordered[i].to(rows[name].dtype) for i, name in enumerate(names)}


def gather_evaluation(family: Any, model: Any, batches: Any, device: torch.device, policy: Any,
                      limit: int | None = None) -> Evaluation:
    """Predict this rank's slices of ``batches``, gather every rank's rows in global order, score them.

    Every rank computes the same metrics from the same gathered rows (no broadcast needed)."""
    rows = predict_rows(family, model, batches, device, policy, limit,
                        target=lambda batch: model.local_slice(family.target(batch)))
    return score(family, gather_rows(rows, model.batch_sizes, model.rank, model.group))


class RankShare:
    """What every hybrid-parallel topology's rank shares: its slice of the global batch, its weight in the
    global mean loss, and the all-reduce of the loss window. ``model`` has ``batch_sizes``, ``rank``,
    ``group`` and ``local_slice``."""

    def __init__(self, model: Any, global_batch: int) -> None:
        self.model = model
        self.world_size = len(model.batch_sizes)
        self.share = model.batch_sizes[model.rank] / global_batch  # this rank's weight in the global mean
        self.loss_weight = self.share * self.world_size

    def local_batch(self, batch: Any) -> Any:
        return batch  # the model slices the global batch itself (the exchange)

    def target(self, family: Any, batch: Any) -> Any:
        return self.model.local_slice(family.target(batch))

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

    def evaluate(self, family: Any, model: torch.nn.Module, batches: Any, device: torch.device,
                 policy: PrecisionPolicy, limit: int | None) -> Evaluation:
        return gather_evaluation(family, self.model, batches, device, policy, limit)
