"""The built-in topologies of multi-process cases (registration only; no torch).

``dlrmbench``: dlrmbench's hybrid layout for the DLRM family (tables placed per rank by its planner, its
all-to-all, a data-parallel top model); ``torchrec_dmp``: TorchRec's DistributedModelParallel (sharded
fused tables, DDP around the dense parts); ``data_parallel``: every rank holds the whole model and its
slice of each batch (DDP), for any family.
"""

from __future__ import annotations

from typing import Any, Callable

from dlrmbench import hookimpl
from dlrmbench.plugin_api import PluginSpec

DMP_EMBEDDINGS = ("torchrec_fused",)  # strategies with a ``shardable()`` form DMP can shard


def more_than_one_process(case: Any, name: str) -> str | None:
    if case.world_size < 2:
        return (f"distributed.topology {name} needs more than one process (processes on the CPU, gpus on "
                "CUDA); with one it would be the single-process run: raise processes/gpus or drop the topology")
    return None


def dmp_reason(host: Any, case: Any, options: Any) -> str | None:
    """Why ``case`` cannot run on TorchRec's DMP, naming the field and the fix; or None."""
    if case is None:
        return None
    reason = more_than_one_process(case, "torchrec_dmp")
    if reason:
        return reason
    if case.embedding.name not in DMP_EMBEDDINGS:
        return (f"distributed.topology torchrec_dmp shards TorchRec's fused tables and embedding "
                f"{case.embedding.name} has none: set embedding: {' or '.join(DMP_EMBEDDINGS)}, or use "
                "distributed.topology: dlrmbench for this strategy")
    if case.precision != "fp32":
        return (f"distributed.topology torchrec_dmp is tested in fp32 only (its fused tables are fp32); "
                f"precision {case.precision}: set precision: fp32")
    return None


def dmp_table_plan(resolved: Any) -> list[dict[str, Any]] | str:
    """The per-table plan TorchRec's planner will make for the case's ranks (imports torch and torchrec), or
    why it cannot be shown here."""
    from dlrmbench.plugin_api import module_available

    if not module_available("torchrec"):
        return ("TorchRec is not installed (make torchrec): its EmbeddingShardingPlanner chooses each table's "
                "sharding type and ranks when the case runs")
    from dlrmbench.distributed.torchrec_dmp import preview_plan

    try:
        return preview_plan(resolved)
    except ValueError as exc:
        return str(exc)


def data_parallel_reason(host: Any, case: Any, options: Any) -> str | None:
    """Why ``case`` cannot run data-parallel: one process, or the inference benchmark (every rank would run
    the whole global batch: W copies of the same work, not a split of it)."""
    if case is None:
        return None
    if case.mode == "inference":
        return ("distributed.topology data_parallel trains and tests; the inference benchmark would run the whole "
                "batch on every rank: set processes: 1 (gpus: 1)")
    return more_than_one_process(case, "data_parallel")


@hookimpl
def register_topologies(register: Callable[[PluginSpec], None]) -> None:
    register(PluginSpec(
        kind="topology", name="dlrmbench", families=("dlrm",),
        summary="hybrid parallel: tables placed per rank, all-to-all, data-parallel top MLP (NVIDIA's layout)",
        factory="dlrmbench.distributed.worker:hybrid_rank"))
    register(PluginSpec(
        kind="topology", name="torchrec_dmp", families=("dlrm",), check=dmp_reason, tables="own",
        table_plan=dmp_table_plan,
        summary="TorchRec DistributedModelParallel: sharded fused tables, DDP dense parts (make torchrec)",
        factory="dlrmbench.distributed.torchrec_dmp:dmp_rank", requires=("torchrec",)))
    register(PluginSpec(
        kind="topology", name="data_parallel", check=data_parallel_reason, tables="replicated",
        summary="every rank the whole model and its slice of each batch (DDP); any family",
        factory="dlrmbench.distributed.data_parallel:data_parallel_rank"))
