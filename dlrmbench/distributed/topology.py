"""The hybrid-parallel topology: one rank of model-parallel tables and a data-parallel top model.

What the one training loop asks of it (see :class:`dlrmbench.workload.topology.Topology`):

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

from typing import Any, Iterator

import torch
import torch.distributed as dist

from dlrmbench.batch import Batch
from dlrmbench.distributed.model import DistributedDlrm
from dlrmbench.workload.evaluate import Evaluation, predict, score
from dlrmbench.workload.precision import PrecisionPolicy
from dlrmbench.workload.topology import split_parameters


class _LocalLabels:
    """A batch stream whose labels are this rank's slice (what the rank's logits predict); it records the
    global row count of every batch it hands out."""

    def __init__(self, batches: Any, model: Any) -> None:
        self.batches, self.model = batches, model
        self.rows: list[int] = []

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[Batch]:
        for b in self.batches:
            self.rows.append(b.size)
            yield Batch(b.numerical, b.categorical, self.model.local_slice(b.label))


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


def gather_evaluation(model: Any, batches: Any, device: torch.device, policy: Any,
                      limit: int | None = None) -> Evaluation:
    """Predict this rank's slices of ``batches``, gather every rank's in global order, score them.

    Each batch is split by its own row count (``model.slices``), so a test batch other than the training
    batch and a short last batch gather right; ``model`` has ``slices``, ``group`` and ``local_slice``.
    """
    stream = _LocalLabels(batches, model)
    logits, labels = predict(model, stream, device, policy, limit)
    slices = model.slices
    sizes = [slices.sizes(rows) for rows in stream.rows]  # per batch, every rank's rows
    world = slices.world_size
    per_rank = [sum(s[r] for s in sizes) for r in range(world)]
    gathered = _gather_slices(torch.cat([logits.float(), labels.float()]), world, model.group)
    pieces = []  # per rank: (logits, labels) of each batch
    for r, flat in enumerate(gathered):
        rank_logits, rank_labels = flat.split(per_rank[r])
        counts = [s[r] for s in sizes]
        pieces.append((rank_logits.split(counts), rank_labels.split(counts)))
    order = [(r, i) for i in range(len(sizes)) for r in range(world)]  # batch by batch, rank by rank
    return score(torch.cat([pieces[r][0][i] for r, i in order]), torch.cat([pieces[r][1][i] for r, i in order]))


class RankShare:
    """What every hybrid-parallel topology's rank shares: its slice of each global batch, its weight in the
    global mean loss, and the all-reduce of the loss window. ``model`` has ``slices``, ``group`` and
    ``local_slice``."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.world_size = model.slices.world_size

    def share(self, rows: int) -> float:
        """This rank's rows of a global batch of ``rows``, as a fraction of it (its weight in the mean)."""
        return self.model.slices.sizes(rows)[self.model.slices.rank] / rows

    def labels(self, batch: Batch) -> torch.Tensor:
        return self.model.local_slice(batch.label)

    def global_losses(self, window: torch.Tensor) -> list[float]:
        if self.world_size > 1:
            window = window.clone()
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
