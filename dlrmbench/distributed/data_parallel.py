"""Data parallelism for any family: every rank holds the whole model and computes its slice of each
global batch; DDP averages the gradients.

Every rank builds the single-process model from the case's seed (the same initial weights as one
process) and reads only its slice of each global batch (``BatchShare.rows``; ``split_batch``: the
reference's equal split, the remainder to the last ranks); another family's batches are read whole and
cut here. The rank's mean loss is weighted by ``b_r * W / B``, so DDP's average
is the global-batch mean gradient even when the slices are unequal; reported losses are the global mean.
Evaluation: each rank scores its slice of every test batch and the rows are gathered in global order,
so the metrics are those of one process over the same samples. The family's batches must offer
``samples(start, stop)`` (the core's :class:`~dlrmbench.batch.Batch` does).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from dlrmbench.batch import global_rows
from dlrmbench.data.share import BatchShare
from dlrmbench.distributed.hybrid_layout import RankShare, gather_rows
from dlrmbench.distributed.rank_data import RankData, pipeline_mode
from dlrmbench.distributed.placement import RankSlices
from dlrmbench.distributed.train import DistributedWorkload
from dlrmbench.workload.evaluate import Evaluation, predict_rows, score
from dlrmbench.workload.layout import whole_model_groups
from dlrmbench.workload.precision import PrecisionPolicy


class DataParallelLayout(RankShare):
    """The training loop's view of a data-parallel rank (see :class:`dlrmbench.workload.layout.Layout`)."""

    def __init__(self, model: DistributedDataParallel, rank: int, group: Any, sparse: list[torch.nn.Parameter]
                 ) -> None:
        super().__init__(RankSlices(dist.get_world_size(group), rank), group)
        self.model, self.sparse = model, sparse
        self.densify = dist.get_backend(group) != "gloo"  # gloo reduces sparse tensors; others take them dense

    def _slice(self, batch: Any) -> Any:
        """This rank's slice of ``batch``: a share already is one (the core's batches); another family's global
        batch is cut here (the same split for every global batch size)."""
        if getattr(batch, "global_rows", None) is not None:
            return batch
        start, stop = self.slices.bounds(batch.size)
        return batch.samples(start, stop)

    def parameter_groups(self, model: torch.nn.Module) -> list[dict[str, Any]]:
        return whole_model_groups(self.model.module)

    def embeddings(self, model: torch.nn.Module) -> Any:
        return getattr(self.model.module, "embeddings", None)

    def embedding_lr_scale(self) -> float:
        return 1.0  # DDP hands every parameter the global-batch mean gradient

    def local_batch(self, batch: Any) -> Any:
        return self._slice(batch)

    def target(self, family: Any, batch: Any) -> Any:
        return family.target(batch)

    def after_backward(self) -> None:
        """The tables' sparse gradients, which DDP cannot reduce: summed over the ranks (gloo reduces sparse
        tensors; other backends get the dense sum) and divided by the world size, as DDP does the rest."""
        for param in self.sparse:
            grad = param.grad
            if grad is None:
                continue
            if grad.is_sparse:
                grad = grad.coalesce()
                if self.densify:
                    grad = grad.to_dense()
            dist.all_reduce(grad, group=self.group)
            param.grad = grad / self.world_size

    def evaluate(self, family: Any, model: torch.nn.Module, batches: Any, device: torch.device,
                 policy: PrecisionPolicy, limit: int | None) -> Evaluation:
        batch_rows: list[int] = []

        def local(batch: Any) -> Any:
            batch_rows.append(global_rows(batch))
            return self._slice(batch)

        rows = predict_rows(family, self.model.module, batches, device, policy, limit, local=local)
        return score(family, gather_rows(rows, [self.slices.sizes(n) for n in batch_rows], self.group))


class DataParallelRank:
    """One rank of the ``data_parallel`` topology."""

    def run(self, resolved: Any, reporter: Any, rank: int, world: int, local_rank: int) -> None:
        from dlrmbench.distributed.worker import run_rank_mode
        from dlrmbench.workload.build import build_family, build_model, open_case_data
        from dlrmbench.workload.train import train

        resolved, device, dataset, table_sizes = open_case_data(resolved, local_rank, rank, world)
        case = resolved.case
        dataset = RankData(dataset, BatchShare.rows(rank, world), case.distributed.read,
                           pipeline_mode(case.distributed.pipeline))
        family = build_family(resolved, table_sizes)
        model = build_model(resolved, table_sizes, family).to(device)
        sparse = _table_parameters(model)
        DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(
            model, [name for name, p in model.named_parameters() if any(p is q for q in sparse)])
        ddp = DistributedDataParallel(model, device_ids=[local_rank] if device.type == "cuda" else None,
                                      process_group=dist.group.WORLD)
        layout = DataParallelLayout(ddp, rank, dist.group.WORLD, sparse)
        work = DistributedWorkload(case, device, dataset, ddp, table_sizes, rank, world,  # type: ignore[arg-type]
                                   family=family, resolved=resolved)

        def evaluate(work: Any, policy: Any, limit: int | None = None) -> Evaluation:
            batches = work.dataset.batches("test", case.eval_batch_size, work.device)
            return layout.evaluate(family, ddp, batches, work.device, policy, limit)

        run_rank_mode(work, reporter, {"topology": resolved.plugins["topology"].name},
                      layout.slices.sizes(case.batch_size),
                      lambda work, reporter, mlperf=None: train(work, reporter, mlperf, layout=layout), evaluate)


def _table_parameters(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    """The parameters of the model's embedding strategy (sparse gradients, reduced by the layout itself)."""
    embeddings = getattr(model, "embeddings", None)
    if embeddings is None:
        return []
    if getattr(embeddings, "applies_own_optimizer", False):
        raise ValueError("distributed.topology data_parallel reduces gradients before the optimizer step; this "
                         "embedding strategy updates its tables inside backward (each rank alone): choose a "
                         "strategy whose tables the optimizer plugin updates")
    return [p for p in embeddings.parameters() if p.requires_grad]


def data_parallel_rank(ctx: Any) -> DataParallelRank:
    """The ``data_parallel`` topology's factory."""
    return DataParallelRank()
