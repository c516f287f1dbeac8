"""The memory planner: per rank, the bytes a hybrid-parallel case needs, against the device's memory.

Light (no torch): the planner runs it before anything is launched. Per rank it counts

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

from dataclasses import dataclass, field
from typing import Any

from dlrmbench.distributed.placement import Placement, device_mapping, split_batch

FLOAT = 4
INDEX = 8
GIB = 2**30


def interaction_width(kind: Any, num_vectors: int, dim: int, resolved: Any = None) -> int:
    """The top MLP's input width: the interaction plugin's ``output_width`` (light), for a name or a
    ``model.interaction`` reference; ``n * d`` when the plugin does not declare one. With the case's
    ``resolved`` case (a worker's rank), the plugin facts come from it, not from the registry."""
    if resolved is not None:
        width = resolved.output_width(num_vectors, dim)
        return width if width is not None else num_vectors * dim
    name = getattr(kind, "name", kind)
    options = getattr(kind, "options", {})
    if name == "dot":
        return dim + num_vectors * (num_vectors - 1) // 2 + 1
    if name == "cat":
        return num_vectors * dim
    from dlrmbench.plugins import get_registry

    spec = get_registry().specs["interaction"].get(name)
    if spec is None or spec.output_width is None:
        return num_vectors * dim
    return spec.output_width(spec.options.model_validate(options), num_vectors, dim)


def optimizer_state_bytes_per_parameter(case: Any, resolved: Any = None) -> float:
    """State bytes per parameter element of the case's optimizer plugin (SGD: 0)."""
    if resolved is not None:
        return float(resolved.optimizer_state_bytes_per_parameter)
    name = case.optimizer.name
    if name == "sgd":
        return 0.0
    from dlrmbench.plugins import get_registry

    spec = get_registry().specs["optimizer"].get(name)
    return spec.state_bytes_per_parameter if spec is not None else 0.0


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

    @property
    def fits(self) -> bool:
        return not self.problems


def _mlp_params(in_features: int, sizes: list[int]) -> int:
    total = 0
    for width in sizes:
        total += in_features * width + width
        in_features = width
    return total


def _activation_bytes(model: Any, batch: int, local: int, vectors: int, tables: int, bottom: bool, n: int,
                      resolved: Any = None) -> int:
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
    width = interaction_width(model.interaction, n, d, resolved)
    if model.interaction.name == "dot":
        total += local * (n * d + n * n + n * (n - 1) // 2) * FLOAT
    top = list(model.top_mlp[:-1])
    total += local * (width + sum(top) + 1) * FLOAT
    widest = max([width, *top])
    total += max(local * n * d + batch * vectors * d, 2 * local * widest) * FLOAT
    return total


def plan_memory(case: Any, table_sizes: list[int], capacities: list[int] | None,
                shared_capacity: int | None = None, resolved: Any = None) -> MemoryPlan:
    """Estimate every rank's memory for ``case`` with ``table_sizes``.

    Args:
        capacities: usable bytes of each rank's device (GPU memory x memory_fraction), or None.
        shared_capacity: usable bytes shared by all ranks (CPU processes on one host), or None.
        resolved: the case's ResolvedCase (a rank): plugin facts from it instead of the registry.
    """
    model = case.model
    world = case.world_size
    placement = device_mapping(table_sizes, world)
    sizes = split_batch(case.batch_size, world)
    d = model.embedding_dim
    n = 1 + len(table_sizes)
    top_params = _mlp_params(interaction_width(model.interaction, n, d, resolved), list(model.top_mlp))
    bottom_params = _mlp_params(model.num_numerical, list(model.bottom_mlp))
    state = optimizer_state_bytes_per_parameter(case, resolved)
    hotness = getattr(resolved, "hotness", None)
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


def human_bytes(value: int) -> str:
    """``1.50 GiB``, ``12.0 MiB``, ``512 B``: binary units, three significant digits."""
    for unit, size in (("GiB", GIB), ("MiB", 2**20), ("KiB", 2**10)):
        if value >= size:
            return f"{value / size:.3g} {unit}" if value < 1000 * size else f"{value / size:.0f} {unit}"
    return f"{value} B"


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
            "bottom mlp": "yes" if r.rank == plan.placement.bottom_mlp_rank else "",
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


def format_plan(plan: MemoryPlan) -> str:
    """The plan as a plain-text table (the skip reason of a case that does not fit)."""
    rows = plan_rows(plan)
    columns = list(rows[0]) if rows else []
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns)]
    lines += ["  ".join(r[c].ljust(widths[c]) for c in columns) for r in rows]
    if plan.shared_capacity_bytes is not None:
        lines.append(f"host memory shared by all ranks: {human_bytes(plan.shared_capacity_bytes)} usable")
    return "\n".join(lines)


def case_table_sizes(case: Any) -> list[int] | None:
    """Table sizes known before the worker runs: the model's, else what the dataset plugin can tell."""
    sizes = case.model.table_sizes
    if sizes is None:
        from dlrmbench.plugins import get_registry

        spec = get_registry().get("dataset", case.dataset.name)
        if spec.table_sizes is not None:
            sizes = spec.table_sizes(spec.options.model_validate(case.dataset.options), case)
    if sizes is None:
        return None
    if case.model.max_table_size is not None:
        sizes = [min(s, case.model.max_table_size) for s in sizes]
    return list(sizes)


def plan_for_host(case: Any, host: Any, table_sizes: list[int] | None = None, resolved: Any = None
                  ) -> MemoryPlan | None:
    """The memory plan of ``case`` on ``host`` (None when the table sizes are only known at run time);
    a rank passes its ``resolved`` case so that no plugin registry is needed."""
    sizes = table_sizes if table_sizes is not None else case_table_sizes(case)
    if sizes is None:
        return None
    fraction = case.distributed.memory_fraction
    if case.device == "cuda":
        gpus = list(host.gpus)
        if len(gpus) < case.world_size:
            return plan_memory(case, sizes, None, resolved=resolved)
        return plan_memory(case, sizes, [int(gpus[r].memory_bytes * fraction) for r in range(case.world_size)],
                           resolved=resolved)
    shared = int(host.memory_bytes * fraction) if host.memory_bytes else None
    return plan_memory(case, sizes, None, shared, resolved)


def memory_reason(case: Any, host: Any, resolved: Any = None) -> str | None:
    """Planner check (``dlrmbench.distributed.planning_reason``): why a case cannot run here.

    Every case whose memory plan can be made before it runs is checked, single-process ones too,
    so that ``dlrmbench plan`` (which prints every case's plan) and ``run`` always agree.
    """
    if case.world_size > 1 and case.device == "cpu" and case.processes > host.cpu_count \
            and not case.distributed.oversubscribe:
        return (f"needs {case.processes} processes; this machine has {host.cpu_count} CPU cores "
                "(set distributed.oversubscribe: true to run anyway)")
    try:
        plan = plan_for_host(case, host, resolved=resolved)
    except ValueError as exc:
        return str(exc)
    if plan is None or plan.fits:
        return None
    return "does not fit: " + "; ".join(plan.problems) + "\n" + format_plan(plan)
