"""The topology a case runs on: what the one training loop asks that differs between layouts.

:class:`SingleProcess` is one process holding the whole model. The hybrid-parallel layout
(:class:`dlrmbench.distributed.topology.HybridParallel`) fills the same interface for one rank of
model-parallel tables and a data-parallel top model; TorchRec's DistributedModelParallel would be
a third.
"""

from __future__ import annotations

from typing import Any, Protocol

import torch

from dlrmbench.batch import Batch
from dlrmbench.workload.evaluate import Evaluation, evaluate
from dlrmbench.workload.precision import PrecisionPolicy


class Topology(Protocol):
    """What the training loop asks of a layout.

    Attributes:
        world_size: processes taking part (1 for a single process).
    """

    world_size: int

    def share(self, rows: int) -> float:
        """This process's rows of a global batch of ``rows`` as a fraction of it: its mean loss is weighted
        ``share * world_size`` before backward (so the gradients are those of the global-batch mean) and
        ``share`` in the reported loss."""
        ...

    def parameter_groups(self, model: torch.nn.Module) -> list[dict[str, Any]]:
        """The optimizer's groups: ``params``, ``sparse`` (tables), ``lr_scale``; leaves out the tables of
        a strategy that applies its own optimizer."""
        ...

    def embeddings(self, model: torch.nn.Module) -> Any:
        """The embedding strategy of this process (None when it holds no table)."""
        ...

    def embedding_lr_scale(self) -> float:
        """``lr_scale`` of the tables (1 in both layouts: hybrid parallel hands them the global-mean gradient)."""
        ...

    def labels(self, batch: Batch) -> torch.Tensor:
        """The labels this process's logits predict."""
        ...

    def global_losses(self, window: torch.Tensor) -> list[float]:
        """The global-batch mean loss of each step of ``window`` (this process's losses), on the host."""
        ...

    def evaluate(self, model: torch.nn.Module, batches: Any, device: torch.device, policy: PrecisionPolicy,
                 limit: int | None) -> Evaluation:
        """AUC and log loss over the test split (the same on every rank)."""
        ...


def split_parameters(module: torch.nn.Module | None, lr_scale: float) -> list[dict[str, Any]]:
    """A strategy's parameters as one sparse group (none when it applies its own optimizer)."""
    if module is None or getattr(module, "applies_own_optimizer", False):
        return []
    params = [p for p in module.parameters() if p.requires_grad]
    return [{"params": params, "sparse": True, "lr_scale": lr_scale}] if params else []


class SingleProcess:
    """The whole model in this process."""

    world_size = 1

    def share(self, rows: int) -> float:
        return 1.0

    def parameter_groups(self, model: torch.nn.Module) -> list[dict[str, Any]]:
        embeddings = getattr(model, "embeddings", None)
        table_ids = {id(p) for p in embeddings.parameters()} if embeddings is not None else set()
        dense = [p for p in model.parameters() if p.requires_grad and id(p) not in table_ids]
        return [{"params": dense, "sparse": False, "lr_scale": 1.0}, *split_parameters(embeddings, 1.0)]

    def embeddings(self, model: torch.nn.Module) -> Any:
        return getattr(model, "embeddings", None)

    def embedding_lr_scale(self) -> float:
        return 1.0

    def labels(self, batch: Batch) -> torch.Tensor:
        return batch.label

    def global_losses(self, window: torch.Tensor) -> list[float]:
        return window.tolist()

    def evaluate(self, model: torch.nn.Module, batches: Any, device: torch.device, policy: PrecisionPolicy,
                 limit: int | None) -> Evaluation:
        return evaluate(model, batches, device, policy, limit)
