"""The layout a case runs on: what the one training loop asks that differs between layouts.

:class:`SingleProcess` is one process holding the whole model. Every topology plugin's rank fills the
same interface (:class:`Layout`): dlrmbench's hybrid layout (model-parallel tables, a data-parallel top
model), TorchRec's DistributedModelParallel, or plain data parallelism (every rank the whole model and
its slice of each batch).
"""

from __future__ import annotations

from typing import Any, Protocol

import torch

from dlrmbench.workload.evaluate import Evaluation, evaluate
from dlrmbench.workload.precision import PrecisionPolicy


class Layout(Protocol):
    """What the training loop asks of a layout.

    Attributes:
        world_size: processes taking part (1 for a single process).

    Optional: ``after_backward()``, called between backward and the optimizer step, for a layout that
    exchanges gradients itself (the data-parallel tables' sparse gradients); ``check_batch(family, batch,
    table_sizes)``, the check of the first batch when a rank's share is not the family's whole batch (the
    hybrid layout's ranks read their own tables' ids); ``train_pipeline(optimizer)``, a layout's own
    steps or None: an object whose ``feed(batches, steps)`` gives the loop the batches it iterates (the
    pipeline reads the same ones ahead) and whose ``step()`` trains the batch the loop holds and returns its mean
    loss (TorchRec's TrainPipelineSparseDist on ``DmpLayout``).
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
        """``lr_scale`` of the tables: 1 where they receive the global-batch mean gradient (the hybrid exchange,
        DDP); DMP with a gradient-linear optimizer (SGD) runs them at 1 / its gradient scale."""
        ...

    def local_batch(self, batch: Any) -> Any:
        """What this process computes on (a data-parallel rank's slice of the global batch; else the batch)."""
        ...

    def target(self, family: Any, batch: Any) -> Any:
        """What this process's outputs are scored against (``batch`` is the local batch)."""
        ...

    def global_losses(self, window: torch.Tensor) -> list[float]:
        """The global-batch mean loss of each step of ``window`` (this process's losses), on the host."""
        ...

    def evaluate(self, family: Any, model: torch.nn.Module, batches: Any, device: torch.device,
                 policy: PrecisionPolicy, limit: int | None) -> Evaluation:
        """The family's metrics over the test split (the same on every rank)."""
        ...


def split_parameters(module: torch.nn.Module | None, lr_scale: float) -> list[dict[str, Any]]:
    """A strategy's parameters as one sparse group (none when it applies its own optimizer)."""
    if module is None or getattr(module, "applies_own_optimizer", False):
        return []
    params = [p for p in module.parameters() if p.requires_grad]
    return [{"params": params, "sparse": True, "lr_scale": lr_scale}] if params else []


def whole_model_groups(model: torch.nn.Module) -> list[dict[str, Any]]:
    """The groups of a model held whole: its dense parameters, and its ``embeddings`` as the sparse group."""
    embeddings = getattr(model, "embeddings", None)
    table_ids = {id(p) for p in embeddings.parameters()} if embeddings is not None else set()
    dense = [p for p in model.parameters() if p.requires_grad and id(p) not in table_ids]
    return [{"params": dense, "sparse": False, "lr_scale": 1.0}, *split_parameters(embeddings, 1.0)]


class SingleProcess:
    """The whole model in this process."""

    world_size = 1

    def share(self, rows: int) -> float:
        return 1.0

    def parameter_groups(self, model: torch.nn.Module) -> list[dict[str, Any]]:
        return whole_model_groups(model)

    def embeddings(self, model: torch.nn.Module) -> Any:
        return getattr(model, "embeddings", None)

    def embedding_lr_scale(self) -> float:
        return 1.0

    def local_batch(self, batch: Any) -> Any:
        return batch

    def target(self, family: Any, batch: Any) -> Any:
        return family.target(batch)

    def global_losses(self, window: torch.Tensor) -> list[float]:
        return window.tolist()

    def evaluate(self, family: Any, model: torch.nn.Module, batches: Any, device: torch.device,
                 policy: PrecisionPolicy, limit: int | None) -> Evaluation:
        return evaluate(family, model, batches, device, policy, limit)
