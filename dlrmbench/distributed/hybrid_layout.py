"""The hybrid-parallel layout: one rank of model-parallel tables and a data-parallel top model.

What the one training loop asks of it (see :class:`dlrmbench.workload.layout.Layout`):

* the rank's loss is the mean over its slice of the global batch, weighted by ``b_r * W / B`` (DDP
  averages the top model's gradients, so this gives the global-batch mean gradient exactly);
* the bottom MLP and the tables get no all-reduce: the exchange's backward divides the sum over ranks
  by ``W``, so they too get the global-batch mean gradient and every group runs at the case's
  learning rate (``lr_scale`` 1): exact for SGD and for Adagrad, for which the reference's ``lr / W``
  rule would not be (see :mod:`dlrmbench.distributed.exchange`);
* reported losses are the global-batch mean (slice means weighted by ``b_r / B``, all-reduced once
  per progress window, not every step);
* every batch is split by its own row count, so the test and inference batches, and a split's short
  last batch, need not be the training batch.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist

from dlrmbench.batch import global_rows
from dlrmbench.workload.evaluate import Evaluation, predict_rows, score
from dlrmbench.workload.layout import split_parameters
from dlrmbench.workload.precision import PrecisionPolicy


def _gather_slices(tensor: torch.Tensor, world: int, group: Any) -> list[torch.Tensor]:
    """Every rank's 1-D ``tensor`` (their lengths may differ), in rank order."""
    if world == 1:
        return [tensor]
    counts = torch.tensor([tensor.numel()], device=tensor.device)
    all_counts = [torch.zeros_like(counts) for _ in range(world)]
    dist.all_gather(all_counts, counts, group=group)
    longest = int(max(c.item() for c in all_counts))
    padded = torch.zeros(longest, dtype=tensor.dtype, device=tensor.device)
    padded[: tensor.numel()] = tensor
    out = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(out, padded, group=group)
    return [o[: int(c.item())] for o, c in zip(out, all_counts)]


def gather_rows(rows: dict[str, torch.Tensor], sizes: list[list[int]], group: Any) -> dict[str, torch.Tensor]:
    """Every rank's per-sample rows in the global order. ``sizes[b][r]``: rank r's rows of evaluated batch b
    (each batch split by its own row count); rank r holds its slices one batch after the other. The result
    is batch by batch, rank by rank within each."""
    names = sorted(rows)
    world = len(sizes[0])
    per_rank = [sum(s[r] for s in sizes) for r in range(world)]
    gathered = _gather_slices(torch.cat([rows[n].float().reshape(-1) for n in names]), world, group)
    out = {}
    for i, name in enumerate(names):
        pieces = [g.view(len(names), per_rank[r])[i].split([s[r] for s in sizes]) for r, g in enumerate(gathered)]
        ordered = torch.cat([pieces[r][b] for b in range(len(sizes)) for r in range(world)])
        out[name] = ordered.to(rows[name].dtype)
    return out


def gather_evaluation(family: Any, model: Any, batches: Any, device: torch.device, policy: Any,
                      limit: int | None = None) -> Evaluation:
    """Predict this rank's slices of ``batches`` (its shares of the global test batches), gather every rank's
    rows in global order, score them.

    Each batch is split by its own row count (``model.slices``), so a test batch other than the training
    batch and a short last batch gather right. Every rank computes the same metrics from the same gathered
    rows (no broadcast needed)."""
    batch_rows: list[int] = []

    def target(batch: Any) -> Any:
        batch_rows.append(global_rows(batch))
        return family.target(batch)  # the labels of this rank's rows

    rows = predict_rows(family, model, batches, device, policy, limit, target=target)
    return score(family, gather_rows(rows, [model.slices.sizes(n) for n in batch_rows], model.group))


class RankShare:
    """What every multi-process layout's rank shares: its slice of each global batch (``slices``), its weight in
    the global mean loss, and the all-reduce of the loss window."""

    def __init__(self, slices: Any, group: Any) -> None:
        self.slices, self.group = slices, group
        self.world_size = slices.world_size

    def share(self, rows: int) -> float:
        """This rank's rows of a global batch of ``rows``, as a fraction of it (its weight in the mean)."""
        return self.slices.sizes(rows)[self.slices.rank] / rows

    def global_losses(self, window: torch.Tensor) -> list[float]:
        if self.world_size > 1:
            window = window.clone()
            dist.all_reduce(window, group=self.group)
        return window.tolist()


class ModelSliced(RankShare):
    """A layout whose model takes this rank's share of the global batch (:class:`~dlrmbench.data.share.BatchShare`)
    and returns the outputs of its rows (the hybrid exchange; DMP's input distribution): ``model`` has
    ``slices`` and ``group``."""

    def __init__(self, model: Any) -> None:
        super().__init__(model.slices, model.group)
        self.model = model

    def local_batch(self, batch: Any) -> Any:
        return batch

    def target(self, family: Any, batch: Any) -> Any:
        return family.target(batch)  # the share's labels are this rank's rows

    def evaluate(self, family: Any, model: torch.nn.Module, batches: Any, device: torch.device,
                 policy: PrecisionPolicy, limit: int | None) -> Evaluation:
        return gather_evaluation(family, self.model, batches, device, policy, limit)


class HybridParallel(ModelSliced):
    """One rank of a hybrid-parallel case (``model``: a :class:`DistributedDlrm`)."""

    def check_batch(self, family: Any, batch: Any, table_sizes: list[int]) -> None:
        """The family's check of this rank's share: its tables' ids (and the dense features, on the bottom MLP's
        rank, the one that reads them)."""
        local = [table_sizes[f] for f in self.model.local_features]
        if self.model.bottom_mlp is None:
            batch = type(batch)(batch.numerical.new_zeros(0, family.config.num_numerical), batch.categorical,
                                batch.label, batch.global_rows)
        family.check_batch(batch, local)

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
