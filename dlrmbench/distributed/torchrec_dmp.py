"""TorchRec's DistributedModelParallel as a second hybrid-parallel topology (``distributed.topology: torchrec_dmp``).

The same case, the same one training loop, another layout: every rank builds the DLRM's dense parts with
the strategy's ``shardable()`` form for its tables (a TorchRec ``EmbeddingBagCollection`` on the meta device,
with the optimizer applied in backward: no table memory), and hands the model to
``DistributedModelParallel`` with a plan from TorchRec's ``EmbeddingShardingPlanner`` over a ``Topology`` of the world size: DMP shards the tables (the planner picks
each table's sharding type from the model-parallel types TorchRec offers on the device, as the reference
lets it; ``distributed.torchrec_sharding`` forces one type on every table), runs FBGEMM's fused kernels and its
input/output all-to-alls, and wraps the dense parts in DDP. DMP allocates only this rank's shards; then the
whole model is drawn from the case's seed in the single-process order, each table's rows written only into
the shards held here, so every rank starts from the single-process weights and holds its shards and the
dense model, never the whole tables.

Each rank reads only its rows of every global batch (``BatchShare.rows``: labels, dense features and every
feature's ids of its rows, as the MLPerf reference's per-rank data loader) and feeds them to DMP, whose input
all-to-all sends each table's ids to the ranks holding its shards. Its loss is weighted ``b_r * W / B``:
DDP's average gives the dense parts the global-batch mean
gradient, and so does TorchRec's pooled all-to-all backward for the tables, which divides the ranks'
sum by W (``torchrec.distributed.comm_ops.GRADIENT_DIVISION``, on by default). Were it off, the tables
would receive W times the mean: the fused SGD then runs at ``lr / W`` and the fused Adagrad with
``eps * W`` (Adagrad's step is otherwise invariant to the gradient's scale), so both stay the
single-process update. Imports torch and torchrec.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import torch
from torch import nn

from dlrmbench.batch import Ids, global_rows, ids_batch_size
from dlrmbench.data.share import BatchShare
from dlrmbench.distributed.placement import RankSlices, split_batch
from dlrmbench.distributed.rank_data import RankData, pipeline_mode
from dlrmbench.distributed.hybrid_layout import ModelSliced
from dlrmbench.distributed.torchrec_pipeline import DmpTrainModel, TorchRecSteps, ids_placeholder
from dlrmbench.distributed.train import DistributedWorkload
from dlrmbench.workload.evaluate import Evaluation

# the model-parallel types, in TorchRec's names and in the order the planner breaks cost ties by; data_parallel
# is left out: with the optimizer applied in backward its replicated tables do not train as one process does
# (README, torchrec_dmp); grid_shard too: TorchRec's planner proposes it only when a constraint names it
MODEL_PARALLEL = ("table_wise", "column_wise", "row_wise", "table_row_wise")
EMBEDDINGS = "embeddings.ebc"  # where the sharded collection sits in the DLRM (its parameters: fused)


class DmpDlrm(nn.Module):
    """One rank of a DMP-sharded DLRM: ``forward(numerical, categorical)`` of this rank's rows of a global batch
    returns their logits (the interface :func:`gather_evaluation` and the topology read). Under ``pipeline:
    sparse_dist`` DMP wraps the training forward (:class:`DmpTrainModel`), which TorchRec's pipeline calls; this
    forward then runs the DLRM inside it (evaluation, with the pipeline detached)."""

    applies_own_optimizer = True

    def __init__(self, dmp: nn.Module, batch_sizes: list[int], rank: int, group: Any, plan: Any,
                 gradient_scale: float = 1.0) -> None:
        super().__init__()
        self.dmp = dmp
        self.batch_sizes, self.rank, self.group, self.plan = batch_sizes, rank, group, plan
        self.gradient_scale = gradient_scale  # the tables' gradient in units of the global-batch mean
        self.slices = RankSlices(len(batch_sizes), rank)

    def forward(self, numerical: torch.Tensor, categorical: Ids) -> torch.Tensor:
        rows = ids_batch_size(categorical)
        if rows != numerical.shape[0]:
            raise ValueError(f"rank {self.rank}: a batch of {numerical.shape[0]} numerical rows and {rows} id rows")
        if rows == 0:  # a batch smaller than the world: TorchRec's jagged tensors need a row, so this rank
            # runs a placeholder row (ids 0) through its collectives and returns none of it (no gradient reaches it)
            return self._logits(numerical.new_zeros(1, numerical.shape[1]), ids_placeholder(categorical))[:0]
        return self._logits(numerical, categorical)

    @property
    def dlrm(self) -> nn.Module:
        """The DLRM DMP shards, without DDP's wrapper (inside :class:`DmpTrainModel` under
        ``pipeline: sparse_dist``)."""
        inner = self.dmp.module
        return inner.model if isinstance(inner, DmpTrainModel) else inner

    def _logits(self, numerical: torch.Tensor, categorical: Ids) -> torch.Tensor:
        if isinstance(self.dmp.module, DmpTrainModel):  # evaluated only through here (no_grad): no DDP forward
            return self.dlrm(numerical, categorical)
        return self.dmp(numerical, categorical)

    def dense_parameters(self) -> list[nn.Parameter]:
        """The DDP-wrapped dense parameters (the optimizer plugin's); the sharded tables update themselves."""
        return [p for name, p in self.dmp.named_parameters() if EMBEDDINGS not in name and p.requires_grad]

    def set_learning_rate(self, lr: float) -> None:
        """The rate the fused kernels apply in the coming backward (already divided by W for SGD)."""
        optimizer = self.dmp.fused_optimizer
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.step()  # a fused optimizer's step only hands the rate to the kernels


class DmpLayout(ModelSliced):
    """The training loop's view of a DMP rank (see :class:`dlrmbench.workload.layout.Layout`).

    ``linear_optimizer``: the optimizer's update is proportional to the gradient (SGD), so tables that
    receive k x the global-mean gradient run at lr / k; otherwise (Adagrad) the strategy scaled eps by k.
    """

    def __init__(self, model: DmpDlrm, linear_optimizer: bool, device: torch.device | None = None) -> None:
        super().__init__(model)
        self.linear_optimizer = linear_optimizer
        self.device = device
        self.steps: TorchRecSteps | None = None

    def train_pipeline(self, optimizer: torch.optim.Optimizer) -> TorchRecSteps | None:
        """TorchRec's train pipeline when DMP wraps the training forward (``pipeline: sparse_dist``), else None (the
        loop's own steps). Optional :class:`~dlrmbench.workload.layout.Layout` hook."""
        if not isinstance(self.model.dmp.module, DmpTrainModel):
            return None
        embeddings = self.model.dlrm.embeddings
        self.steps = TorchRecSteps(self.model.dmp, optimizer, self.device or torch.device("cpu"), embeddings,
                                   lambda batch: self.share(global_rows(batch)) * self.world_size)
        return self.steps

    def evaluate(self, family: Any, model: nn.Module, batches: Any, device: torch.device, policy: Any,
                 limit: int | None) -> Evaluation:
        if self.steps is None:
            return super().evaluate(family, model, batches, device, policy, limit)
        self.steps.detach()  # the sharded collection's own forward (and input distribution) back
        try:
            return super().evaluate(family, model, batches, device, policy, limit)
        finally:
            self.steps.attach()

    def parameter_groups(self, model: nn.Module) -> list[dict[str, Any]]:
        return [{"params": self.model.dense_parameters(), "sparse": False, "lr_scale": 1.0}]

    def embeddings(self, model: nn.Module) -> Any:
        return self.model

    def embedding_lr_scale(self) -> float:
        # tables receiving k x the global-mean gradient: SGD at lr / k; Adagrad's eps was scaled by k instead
        return 1.0 / self.model.gradient_scale if self.linear_optimizer else 1.0


def allowed_sharding_types(sharders: list[Any], device: torch.device, forced: str | None) -> list[str]:
    """The sharding types the planner may give a table: ``forced`` alone, else every model-parallel type the
    sharder offers on ``device``'s kind (TorchRec 1.8 on the CPU: table_wise and column_wise)."""
    if forced is not None:
        return [forced]
    offered = set(sharders[0].sharding_types(device.type))
    return [t for t in MODEL_PARALLEL if t in offered]


def ordered_sharders(allowed: list[str]) -> list[Any]:
    """An ``EmbeddingBagCollectionSharder`` that offers exactly ``allowed``, in that order. The planner's choice
    between equal-cost types (a table that fits one rank whole: ``table_wise`` or a single ``column_wise``
    shard) follows the order its enumerator lists them in; given the types as a constraint, TorchRec 1.8
    intersects them with the sharder's as Python sets, whose order follows the process's string hashing
    (``PYTHONHASHSEED``), so ranks and ``dlrmbench plan`` could disagree between runs. A sharder's own list
    keeps its order."""
    from torchrec.distributed.embeddingbag import EmbeddingBagCollectionSharder

    class OrderedSharder(EmbeddingBagCollectionSharder):
        def sharding_types(self, compute_device_type: str) -> list[str]:
            offered = super().sharding_types(compute_device_type)
            return [t for t in allowed if t in offered]

    return [OrderedSharder()]


def sharding_plan(model: nn.Module, world: int, device: torch.device, group: Any, sharders: list[Any],
                  batch_size: int) -> Any:
    """TorchRec's planner over ``world`` ranks of ``device``'s kind: each table gets the type (and ranks) its
    cost model prefers among the ``sharders``' types (:func:`ordered_sharders`), for this rank's
    ``batch_size`` (as the reference plans)."""
    from torchrec.distributed.planner import EmbeddingShardingPlanner, Topology

    planner = EmbeddingShardingPlanner(topology=Topology(world_size=world, compute_device=device.type),
                                       batch_size=batch_size)
    if group is None:  # no process group (dlrmbench plan): what rank 0 plans and collective_plan broadcasts
        return planner.plan(model, sharders)
    return planner.collective_plan(model, sharders, group)


def model_with_meta_tables(resolved: Any, table_sizes: list[int], family: Any, gradient_scale: float = 1.0) -> nn.Module:
    """The case's model with its dense parts built for real and its tables as the strategy's ``shardable()``
    form on the meta device (no table memory): the model is built over one-row tables (the dense parts do not
    depend on the rows), whose strategy then gives its shardable form at ``table_sizes``. Its weights are not
    yet the case's: :meth:`~dlrmbench.model.dlrm.Dlrm.reset_parameters` draws them once the tables exist."""
    from dlrmbench.workload.build import build_model

    model = build_model(resolved, [1] * len(table_sizes), family)
    strategy = model.embeddings
    if not hasattr(strategy, "shardable"):
        raise ValueError(f"distributed.topology torchrec_dmp shards TorchRec tables; embedding "
                         f"{resolved.case.embedding.name} has no shardable() form (choose a strategy that has one: "
                         "dlrmbench list-plugins)")
    model.embeddings = strategy.shardable(gradient_scale=gradient_scale, table_sizes=list(table_sizes))
    return model


def build_dmp_workload(resolved: Any, rank: int, world: int, local_rank: int, group: Any) -> DistributedWorkload:
    """Dataset and this rank's DMP-sharded model, from the resolved case.

    Host memory: this rank's shards and the dense model, never the whole tables. The tables stay on the meta
    device until DMP allocates this rank's shards; then the whole model is initialised from the case's seed in
    the single-process order (:meth:`~dlrmbench.model.dlrm.Dlrm.reset_parameters`), each table's draw
    written only into the shards held here, so every rank starts from the single-process weights."""
    from torchrec.distributed import DistributedModelParallel
    from torchrec.distributed.comm_ops import get_gradient_division
    from torchrec.distributed.embeddingbag import EmbeddingBagCollectionSharder

    from dlrmbench.workload.build import build_family, open_case_data

    resolved, device, dataset, table_sizes = open_case_data(resolved, local_rank, rank, world)
    case = resolved.case
    pipeline = pipeline_mode(case.distributed.pipeline, auto="sparse_dist")
    dataset = RankData(dataset, BatchShare.rows(rank, world), case.distributed.read, pipeline)
    family = build_family(resolved, table_sizes)
    gradient_scale = 1.0 if get_gradient_division() else float(world)
    model = model_with_meta_tables(resolved, table_sizes, family, gradient_scale)
    allowed = allowed_sharding_types([EmbeddingBagCollectionSharder()], device, case.distributed.torchrec_sharding)
    sharders = ordered_sharders(allowed)
    batch_sizes = split_batch(case.batch_size, world)
    # TorchRec's train pipeline calls DMP with a batch: DMP wraps the training forward around the DLRM
    sharded: nn.Module = DmpTrainModel(model, family) if pipeline == "sparse_dist" and case.mode == "train" else model
    plan = sharding_plan(sharded, world, device, group, sharders, batch_sizes[rank])
    dmp = DistributedModelParallel(sharded, device=device, plan=plan, sharders=sharders)
    with torch.no_grad():
        model.reset_parameters()  # the DLRM DMP now holds (its shards allocated); every rank draws alike
    wrapped = DmpDlrm(dmp, batch_sizes, rank, group, plan, gradient_scale)
    return DistributedWorkload(case, device, dataset, wrapped, table_sizes, rank, world,  # type: ignore[arg-type]
                               family=family, resolved=resolved)


def train_dmp(work: DistributedWorkload, reporter: Any, mlperf: Any = None) -> Any:
    """Train this rank with the one training loop over the DMP layout (``mlperf``: rank 0's MLLOG)."""
    from dlrmbench.workload.train import train

    layout = DmpLayout(work.model, work.resolved.optimizer_linear_in_gradient, work.device)  # type: ignore[arg-type]
    return train(work, reporter, mlperf, layout=layout)  # type: ignore[arg-type]


class DmpRank:
    """One rank of TorchRec's DistributedModelParallel (the ``torchrec_dmp`` topology)."""

    def run(self, resolved: Any, reporter: Any, rank: int, world: int, local_rank: int) -> None:
        import torch.distributed as dist

        from dlrmbench.distributed.train import evaluate_distributed
        from dlrmbench.distributed.worker import run_rank_mode

        work = build_dmp_workload(resolved, rank, world, local_rank, dist.group.WORLD)
        layout = {"topology": resolved.plugins["topology"].name, "sharding_plan": plan_table(work)}
        run_rank_mode(work, reporter, layout, work.model.batch_sizes, train_dmp, evaluate_distributed)


def dmp_rank(ctx: Any) -> DmpRank:
    """The ``torchrec_dmp`` topology's factory."""
    return DmpRank()


def plan_table(work: DistributedWorkload) -> list[dict[str, Any]]:
    """The sharding plan as data: per table its sharding type, compute kernel and ranks (for the result)."""
    return plan_rows(work.model.plan, work.world_size)  # type: ignore[union-attr]


def plan_rows(plan: Any, world: int) -> list[dict[str, Any]]:
    """A TorchRec ``ShardingPlan`` as rows: per table its sharding type, compute kernel and ranks."""
    rows = []
    for module_plan in plan.plan.values():
        for name, spec in module_plan.items():
            ranks = sorted({int(s.placement.rank()) for s in spec.sharding_spec.shards}) \
                if spec.sharding_spec is not None else list(range(world))
            rows.append({"table": name, "sharding_type": spec.sharding_type, "compute_kernel": spec.compute_kernel,
                         "ranks": ranks})
    return rows


def preview_plan(resolved: Any) -> list[dict[str, Any]]:
    """The per-table plan the ranks of ``resolved`` will make (the same planner, model, allowed types and rank-0
    batch as :func:`build_dmp_workload`), without a process group and without building the tables: the dense
    model is built over one-row tables and the strategy's ``shardable`` form gets the case's table sizes on the
    meta device. Rows as :func:`plan_rows`, each with the table's ``rows``. Imports torch and torchrec."""
    from torchrec.distributed.embeddingbag import EmbeddingBagCollectionSharder

    from dlrmbench.workload.build import build_family, case_device

    sizes = list(resolved.table_sizes or [])
    if not sizes:
        raise ValueError("the table sizes are known only once the data is opened")
    case, world = resolved.case, resolved.world_size
    device = case_device(case, 0)  # a device object only: the planner needs its kind, not the device
    model = model_with_meta_tables(resolved, sizes, build_family(resolved, [1] * len(sizes)))
    allowed = allowed_sharding_types([EmbeddingBagCollectionSharder()], device, case.distributed.torchrec_sharding)
    sharders = ordered_sharders(allowed)
    torchrec_log = logging.getLogger("torchrec")
    level = torchrec_log.level
    torchrec_log.setLevel(logging.ERROR)  # its dry-run warnings (a directly built Topology, meta tensors)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            plan = sharding_plan(model, world, device, None, sharders, split_batch(case.batch_size, world)[0])
    finally:
        torchrec_log.setLevel(level)
    rows = plan_rows(plan, world)
    for row in rows:
        row["rows"] = sizes[int(row["table"].rsplit("_", 1)[1])]
    return rows
