"""The DLRM family's memory plan: per rank of dlrmbench's hybrid layout (one rank for a single process),
the bytes a case needs, against the device's memory.

Light (no torch): the planner (:mod:`dlrmbench.memory_plan`) runs it before anything is launched. Per rank
it counts

* tables: the rows placed there x dim x 4 bytes (float32 tables, facts sheet 1.4);
* optimizer state: the optimizer plugin's bytes per parameter over the rank's tables and dense parts
  (plain SGD: 0; Adagrad: 4, one float32 accumulator);
* gradients: the sparse embedding gradient (one row of dim floats plus one int64 index per looked-up id
  of the global batch: hotness ids per feature with multi-hot data, from the resolved case), the dense gradients, and DDP's gradient buckets (one more copy of the top model);
* dense parameters: the bottom MLP (bottom-MLP rank only) and the replicated interaction/top MLP;
* activations: the tensors the step keeps alive at its peak for the batch: the local lookups and bottom
  MLP over the global batch, the exchange buffers, the interaction and top MLP over the rank's slice,
  and the largest backward buffers (see :func:`_activation_bytes`).

The dataset's own memory (pre-generated batches) is not counted: it is host memory on a GPU and the
same for every rank layout. The estimate is checked against measured peak memory in
tests/distributed/test_memory_plan.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from dlrmbench.distributed.placement import Placement, device_mapping, split_batch
from dlrmbench.memory_plan import GIB, human_bytes

FLOAT = 4
INDEX = 8


def interaction_width(resolved: Any, num_vectors: int, dim: int) -> int:
    """The top MLP's input width: the interaction plugin's ``output_width`` (light, from the resolved case);
    ``n * d`` when the plugin declares none."""
    width = resolved.output_width(num_vectors, dim)
    return width if width is not None else num_vectors * dim


@dataclass
class RankMemory:
    """One rank's estimate in bytes."""

    rank: int
    tables: tuple[int, ...]
    table_rows: int
    table_bytes: int
    optimizer_bytes: int
    gradient_bytes: int
    dense_bytes: int
    activation_bytes: int
    device: str = ""
    capacity_bytes: int | None = None

    @property
    def total_bytes(self) -> int:
        return self.table_bytes + self.optimizer_bytes + self.gradient_bytes + self.dense_bytes + self.activation_bytes


@dataclass
class MemoryPlan:
    """The placement of a case and every rank's estimate, with the verdict."""

    case: str
    placement: Placement
    batch_sizes: list[int]
    ranks: list[RankMemory]
    shared_capacity_bytes: int | None = None  # CPU: every rank shares the host's memory
    problems: list[str] = field(default_factory=list)
    note: str | None = None

    @property
    def fits(self) -> bool:
        return not self.problems

    def rows(self) -> list[dict[str, str]]:
        return plan_rows(self)

    def notes(self) -> list[str]:
        """What a reader of the table should know besides the numbers."""
        return [self.note] if self.note else []


def _mlp_params(in_features: int, sizes: list[int]) -> int:
    total = 0
    for width in sizes:
        total += in_features * width + width
        in_features = width
    return total


def _activation_bytes(model: Any, batch: int, local: int, vectors: int, tables: int, bottom: bool, n: int,
                      resolved: Any) -> int:
    """Peak live activation bytes of one training step on one rank.

    ``batch`` is the global batch, ``local`` the rank's slice, ``vectors`` what the rank sends
    (its tables + the bottom-MLP vector), ``n`` the vectors of the interaction (1 + features).
    Kept from the forward for the backward: the ids of the local tables over the global batch (int64)
    and their lookups, the bottom MLP's outputs, the send buffer (when the bottom MLP and tables are
    concatenated), the exchanged vectors in feature order, the interaction's stacked vectors, Gram
    matrix, pairs and output, the top MLP's outputs. On top of that, the larger backward transient:
    the exchange's gradients on both sides, or a top-MLP layer's output gradient and input gradient.
    """
    d = model.embedding_dim
    total = batch * tables * (INDEX + d * FLOAT)
    if bottom:
        total += batch * sum(model.bottom_mlp) * FLOAT
    if bottom and tables:
        total += batch * vectors * d * FLOAT  # torch.cat of the bottom vector and the lookups
    total += local * n * d * FLOAT
    width = interaction_width(resolved, n, d)
    total += local * resolved.interaction_saved_bytes(n, d)  # what the interaction keeps for its backward
    top = list(model.top_mlp[:-1])
    total += local * (width + sum(top) + 1) * FLOAT
    widest = max([width, *top])
    total += max(local * n * d + batch * vectors * d, 2 * local * widest) * FLOAT
    return total


def plan_memory(resolved: Any, table_sizes: list[int], capacities: list[int] | None,
                shared_capacity: int | None = None) -> MemoryPlan:
    """Estimate every rank's memory for the resolved case with ``table_sizes``.

    Args:
        resolved: the case's ResolvedCase: its plugin facts (interaction width, optimizer state, hotness).
        capacities: usable bytes of each rank's device (GPU memory x memory_fraction), or None.
        shared_capacity: usable bytes shared by all ranks (CPU processes on one host), or None.
    """
    case = resolved.case
    model = case.model
    world = case.world_size
    placement = device_mapping(table_sizes, world)
    sizes = split_batch(case.batch_size, world)
    d = model.embedding_dim
    n = 1 + len(table_sizes)
    top_params = _mlp_params(interaction_width(resolved, n, d), list(model.top_mlp))
    bottom_params = _mlp_params(model.num_numerical, list(model.bottom_mlp))
    state = float(resolved.optimizer_state_bytes_per_parameter)
    hotness = resolved.hotness
    ranks = []
    for rank, tables in enumerate(placement.tables):
        rows = sum(table_sizes[f] for f in tables)
        bottom = rank == placement.bottom_mlp_rank
        dense = top_params + (bottom_params if bottom else 0)
        ids = sum(hotness[f] for f in tables) if hotness else len(tables)  # ids per sample on this rank
        sparse_grad = case.batch_size * ids * (d * FLOAT + INDEX)
        ddp_buckets = top_params * FLOAT if world > 1 else 0
        ranks.append(RankMemory(
            rank=rank, tables=tables, table_rows=rows, table_bytes=rows * d * FLOAT,
            optimizer_bytes=int((rows * d + dense) * state),
            gradient_bytes=sparse_grad + dense * FLOAT + ddp_buckets, dense_bytes=dense * FLOAT,
            activation_bytes=_activation_bytes(model, case.batch_size, sizes[rank], placement.vectors(rank),
                                               len(tables), bottom, n, resolved),
            device=f"cuda:{rank}" if case.device == "cuda" else f"cpu rank {rank}",
            capacity_bytes=capacities[rank] if capacities else None,
        ))
    result = MemoryPlan(case.name, placement, sizes, ranks, shared_capacity)
    result.problems = _problems(result, table_sizes, d, capacities, shared_capacity)
    return result


def _problems(plan: MemoryPlan, table_sizes: list[int], dim: int, capacities: list[int] | None,
              shared: int | None) -> list[str]:
    out = []
    largest = max(capacities) if capacities else shared
    if largest is not None:
        for f, rows in enumerate(table_sizes):
            size = rows * dim * FLOAT
            if size > largest:
                out.append(f"table {f} (cat_{f}, {rows:,} rows x {dim} x 4 B = {size / GIB:.2f} GiB) is larger than "
                           f"any device ({largest / GIB:.2f} GiB usable); it cannot be placed: use hash_indices with "
                           "max_table_size, or a device with more memory")
        if out:
            return out
    if capacities:
        for r in plan.ranks:
            if r.total_bytes > (r.capacity_bytes or 0):
                out.append(f"rank {r.rank} needs {r.total_bytes / GIB:.2f} GiB, its device has "
                           f"{(r.capacity_bytes or 0) / GIB:.2f} GiB usable")
    if shared is not None:
        total = sum(r.total_bytes for r in plan.ranks)
        if total > shared:
            out.append(f"the {len(plan.ranks)} ranks need {total / GIB:.2f} GiB together, the host has "
                       f"{shared / GIB:.2f} GiB usable")
    return out


def plan_rows(plan: MemoryPlan) -> list[dict[str, str]]:
    """One row per rank, as strings, for the plan table and the skip reason."""
    rows = []
    for r in plan.ranks:
        if r.capacity_bytes is not None:
            capacity = human_bytes(r.capacity_bytes)
        else:
            capacity = "shared" if plan.shared_capacity_bytes is not None else "unknown"
        rows.append({
            "rank": str(r.rank),
            "device": r.device,
            "tables": ",".join(str(t) for t in r.tables) or "-",
            "bottom mlp": "yes" if plan.placement.bottom_mlp_rank in (r.rank, EVERY_RANK) else "",
            "batch": str(plan.batch_sizes[r.rank]),
            "tables bytes": human_bytes(r.table_bytes),
            "optimizer": human_bytes(r.optimizer_bytes),
            "gradients": human_bytes(r.gradient_bytes),
            "dense": human_bytes(r.dense_bytes),
            "activations": human_bytes(r.activation_bytes),
            "total": human_bytes(r.total_bytes),
            "usable": capacity,
        })
    return rows


EVERY_RANK = -1
"""``Placement.bottom_mlp_rank`` of a layout whose every rank holds the whole model."""


def plan_dlrm_memory(resolved: Any, table_sizes: list[int], capacities: list[int] | None,
                     shared_capacity: int | None) -> MemoryPlan:
    """The DLRM family's ``memory_plan`` (``PluginSpec.memory_plan``): per rank of dlrmbench's placement (one
    for a single process); for a topology whose ranks each hold the whole model, that model's plan at the
    rank's slice of the batch on every rank; with a note where the topology places the tables itself."""
    if resolved.topology_tables == "replicated" and resolved.world_size > 1:
        return _replicated_plan(resolved, table_sizes, capacities, shared_capacity)
    plan = plan_memory(resolved, table_sizes, capacities, shared_capacity)
    topology = resolved.plugins.get("topology")
    if resolved.topology_tables == "own" and topology is not None:
        plan.note = (f"estimated with dlrmbench's placement; the {topology.name} topology places the tables at run "
                     "time (the result's telemetry records its plan)")
    return plan


def _replicated_plan(resolved: Any, table_sizes: list[int], capacities: list[int] | None,
                     shared_capacity: int | None) -> MemoryPlan:
    """Every rank the single-process model at its (largest) slice of the global batch, plus DDP's buckets."""
    case, world = resolved.case, resolved.world_size
    sizes = split_batch(case.batch_size, world)
    alone = case.model_copy(update={"processes": 1, "gpus": 1, "batch_size": max(sizes)})
    rank = plan_memory(resolved.model_copy(update={"case": alone, "world_size": 1}), table_sizes, None).ranks[0]
    ranks = [replace(rank, rank=r, gradient_bytes=rank.gradient_bytes + rank.dense_bytes,  # DDP's buckets
                     device=f"cuda:{r}" if case.device == "cuda" else f"cpu rank {r}",
                     capacity_bytes=capacities[r] if capacities else None) for r in range(world)]
    everywhere = Placement(tables=tuple(tuple(range(len(table_sizes))) for _ in range(world)),
                           bottom_mlp_rank=EVERY_RANK)
    plan = MemoryPlan(case.name, everywhere, sizes, ranks, shared_capacity,
                      note="every rank holds the whole model (its bottom MLP and all tables) and its slice of the batch")
    plan.problems = _problems(plan, table_sizes, case.model.embedding_dim, capacities, shared_capacity)
    return plan
