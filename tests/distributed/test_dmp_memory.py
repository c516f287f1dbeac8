"""The ``torchrec_dmp`` topology holds on each rank its shards of the tables and the dense model, never the
whole tables, and its shards start from the case's initialisation rule (issue 24).

On 2 gloo ranks, 4 tables of 400,000 rows x 64 (400 MiB in all, 200 MiB a rank under the table-wise plan):
each rank's materialised rows (its sharded collection's local tensors) are the bytes the plan gives it,
computed here from the plan's shard metadata; while it builds, the rank's peak resident memory grows by its
shards, one block of the initial draw and the dense model, less than the whole tables (the old path held the
whole single-process model and a copy of its tables besides its shards: 977 MiB here); every table's rows held are uniform in +-sqrt(1/rows) (``uniform_table_init_``): within the
bound, standard deviation bound/sqrt(3), mean 0. That they are also the single-process values is shown by
test_parity_torchrec_dmp.py (every loss equal to one process).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from dlrmbench.config.schema import Case
from dlrmbench_plugins.embeddings._torchrec_impl import INIT_BLOCK_BYTES
from tests.distributed.harness import run_ranks

ROWS, DIM, TABLES = 400_000, 64, 4
TABLE_BYTES = ROWS * DIM * 4


def big_case() -> Case:
    return Case.model_validate({
        "name": "dmp-memory", "device": "cpu", "processes": 2, "embedding": "torchrec_fused",
        "distributed": {"topology": "torchrec_dmp", "torchrec_sharding": "table_wise"},
        "dataset": {"name": "synthetic", "options": {"train_samples": 64, "test_samples": 64, "seed": 3}},
        "batch_size": 32, "max_steps": 1, "seed": 5,
        "model": {"bottom_mlp": [16, DIM], "top_mlp": [16, 8, 1], "embedding_dim": DIM,
                  "table_sizes": [ROWS] * TABLES},
        "optimizer": {"name": "sgd", "lr": 0.1, "warmup_steps": 0, "decay_start_step": 0, "decay_steps": 0},
    })


def peak_rss() -> int:
    """This process's peak resident bytes since :func:`reset_peak_rss` (``VmHWM``). Not ``ru_maxrss``: a spawned
    process's counts the RSS of the process it was forked from before exec (the whole pytest run)."""
    line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


def reset_peak_rss() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # the kernel's peak-RSS reset


def build_rank(rank: int, world: int, case: Case) -> dict:
    import psutil
    import torch
    import torch.distributed as dist
    import torchrec.distributed.embeddingbag  # noqa: F401  (imported before the baseline: not the build's)
    import torchrec.distributed.planner  # noqa: F401

    from dlrmbench.distributed.shards import held_bytes, local_parts
    from dlrmbench.distributed.torchrec_dmp import build_dmp_workload
    from dlrmbench.workload.build import resolve

    resolved = resolve(case)
    reset_peak_rss()
    before = psutil.Process().memory_info().rss
    work = build_dmp_workload(resolved, rank, world, rank, dist.group.WORLD)
    peak = peak_rss()
    planned = 0  # this rank's shards by the plan's own metadata
    for module_plan in work.model.plan.plan.values():
        for spec in module_plan.values():
            for shard in spec.sharding_spec.shards:
                if shard.placement.rank() == rank:
                    planned += math.prod(shard.shard_sizes) * 4
    stats = {}
    collection = work.model.dlrm.embeddings.ebc
    for index in range(TABLES):
        parts = [t.detach().reshape(-1) for _, t in local_parts(collection, index)]
        if parts:
            values = torch.cat(parts).double()
            stats[index] = (float(values.min()), float(values.max()), float(values.std()), float(values.mean()))
    held = held_bytes(work.model.dlrm.embeddings.ebc, len(work.table_sizes))
    return {"held": held, "planned": planned, "growth": peak - before, "stats": stats}


@pytest.fixture(scope="module")
def ranks() -> list[dict]:
    return run_ranks(2, build_rank, big_case())


def test_each_rank_holds_its_plans_share_not_the_whole_tables(ranks: list[dict]) -> None:
    total = TABLES * TABLE_BYTES
    for rank in ranks:
        assert rank["held"] == rank["planned"] == total // 2
    assert sum(r["held"] for r in ranks) == total
    for rank in ranks:  # the shards (195 MiB), one block of the draw (64 MiB) and the dense model: not the whole
        # 391 MiB (the old path: the whole tables, a copy of them and the shards, 977 MiB)
        allowed = rank["planned"] + INIT_BLOCK_BYTES + 32 * 2**20
        assert rank["growth"] < allowed < total, f"peak resident memory grew by {rank['growth'] / 2**20:.0f} MiB"


def test_the_rows_held_follow_the_tables_init_rule(ranks: list[dict]) -> None:
    bound = math.sqrt(1.0 / ROWS)
    seen = set()
    for rank in ranks:
        for index, (low, high, std, mean) in rank["stats"].items():
            seen.add(index)
            assert -bound <= low < -0.999 * bound and 0.999 * bound < high <= bound, (index, low, high)
            assert abs(std - bound / math.sqrt(3)) < 0.002 * bound, (index, std)
            assert abs(mean) < 0.002 * bound, (index, mean)
    assert seen == set(range(TABLES))


def test_reset_parameters_draws_the_built_model_again() -> None:
    """What a DMP rank calls once its shards exist: the weights ``build_dlrm`` drew, every one, from the seed."""
    import torch

    from dlrmbench.workload.build import build_model, resolve

    case = big_case().model_copy(update={"processes": 1})
    case = case.model_copy(update={"model": case.model.model_copy(update={"table_sizes": [50, 7, 30, 12]})})
    model = build_model(resolve(case), [50, 7, 30, 12])
    built = {k: v.clone() for k, v in model.state_dict().items() if isinstance(v, torch.Tensor)}
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(7.0)
    model.reset_parameters()
    again = model.state_dict()
    assert built and all(torch.equal(built[k], again[k]) for k in built)
