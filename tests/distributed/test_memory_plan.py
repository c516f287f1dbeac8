"""The memory planner: placement heuristic, refusals, and its estimate against measured peak memory.

Measured peak memory (CPU, 2 gloo ranks): each rank's peak resident set (``VmHWM``) during three
training steps, reset just before them (``/proc/self/clear_refs``), minus its resident set before the
model was built (the interpreter, torch and the pre-generated batch are the baseline). glibc is told to
serve every allocation above 64 KiB with ``mmap`` (``MALLOC_MMAP_THRESHOLD_``), so freed tensors leave
the resident set at once and the peak is that of live tensor bytes, not of allocator caching. Linux only.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dlrmbench.config.schema import Case
from dlrmbench.distributed.hybrid_memory import plan_memory
from dlrmbench.memory_plan import format_plan
from dlrmbench.memory_plan import memory_reason as planner_reason
from dlrmbench.distributed.placement import device_mapping, split_batch
from dlrmbench.host import Gpu, Host
from tests.distributed.harness import run_ranks
from dlrmbench.workload.build import resolve

FL3 = [45833188, 36747, 17246, 7414, 20244, 4, 7115, 1442, 63, 29275261, 1572176, 345139, 11, 2209, 11268, 128,
       4, 975, 15, 48937457, 11316796, 40094537, 452104, 12607, 105, 36]
GIB = 2**30


def gpu_host(count: int, gib: float) -> Host:
    return Host(gpus=tuple(Gpu(i, "test GPU", int(gib * GIB), (8, 0)) for i in range(count)), cpu_count=2,
                memory_bytes=64 * GIB)


def test_placement_reproduces_the_reference_worked_example() -> None:
    # facts sheet section 5: 8 GPUs -> [0,4,4,4,4,4,4,2]; GPU7 = {16,19}, GPU6 = {0,5,12,18}, GPU5 = {8,21,24,25}
    placement = device_mapping(FL3, 8)
    assert [len(t) for t in placement.tables] == [0, 4, 4, 4, 4, 4, 4, 2]
    assert [placement.vectors(r) for r in range(8)] == [1, 4, 4, 4, 4, 4, 4, 2]
    assert set(placement.tables[7]) == {16, 19} and set(placement.tables[6]) == {0, 5, 12, 18}
    assert set(placement.tables[5]) == {8, 21, 24, 25}
    sixteen = device_mapping(FL3, 16)
    assert sorted(len(t) for t in sixteen.tables) == [0] + [1] * 4 + [2] * 11 and sixteen.tables[0] == ()
    four = device_mapping(FL3, 4)  # <= 4 devices: device 0 holds tables and the bottom MLP
    assert len(four.tables[0]) > 0 and sorted(f for t in four.tables for f in t) == list(range(26))


def test_batch_split_is_the_reference_split() -> None:
    assert split_batch(65536, 8) == [8192] * 8
    assert split_batch(65536, 16) == [4096] * 16
    assert split_batch(64 * 7, 2) == [192, 256]  # multiples of 64, larger share on the last rank
    assert split_batch(100, 3) == [33, 33, 34]  # not a multiple of 64: equal split in samples


def memory_reason(case: Case, host: Host) -> str | None:
    """The planner's verdict on ``case`` (resolved as the planner resolves it)."""
    return planner_reason(resolve(case), host)


def case(**fields: object) -> Case:
    return Case.model_validate({"name": "big", "device": "cuda", "batch_size": 65536,
                                "model": {"table_sizes": FL3}, **fields})


def test_fl3_fits_on_eight_80gb_gpus_not_on_one() -> None:
    assert memory_reason(case(gpus=8), gpu_host(8, 80)) is None
    plan = plan_memory(resolve(case(gpus=8)), FL3, [int(80 * GIB * 0.9)] * 8)
    assert plan.fits
    assert abs(plan.ranks[7].table_bytes / GIB - 23.34) < 0.01  # tables 16 + 19, facts sheet: ~23.3 GiB


def test_a_case_that_cannot_fit_is_skipped_with_the_plan_table() -> None:
    reason = memory_reason(case(gpus=4), gpu_host(4, 26))
    assert reason is not None and reason.startswith("does not fit: rank ")
    assert "tables bytes" in reason and "activations" in reason and "optimizer" in reason and "usable" in reason
    for rank in range(4):
        assert f"cuda:{rank}" in reason


def test_a_table_larger_than_any_device_is_refused_by_name_and_size() -> None:
    reason = memory_reason(case(gpus=8), gpu_host(8, 16))
    assert reason is not None
    assert "table 19 (cat_19, 48,937,457 rows x 128 x 4 B = 23.34 GiB) is larger than any device" in reason
    assert "table 0 (cat_0" in reason


def test_more_cpu_processes_than_cores_is_a_skip_unless_allowed() -> None:
    small = {"model": {"table_sizes": [10, 10]}, "batch_size": 64}
    host = Host(cpu_count=2, memory_bytes=8 * GIB)
    cpu4 = Case.model_validate({"name": "c", "device": "cpu", "processes": 4, **small})
    assert memory_reason(cpu4, host) == ("needs 4 processes; this machine has 2 CPU cores "
                                         "(set distributed.oversubscribe: true to run anyway)")
    allowed = cpu4.model_copy(update={"distributed": cpu4.distributed.model_copy(update={"oversubscribe": True})})
    assert memory_reason(allowed, host) is None
    inference = Case.model_validate({"name": "i", "device": "cpu", "processes": 2, "mode": "inference", **small})
    assert memory_reason(inference, host) is None  # hybrid-parallel inference runs (each batch split over ranks)


def memory_case() -> Case:
    return Case.model_validate({
        "name": "memory", "device": "cpu", "processes": 2, "batch_size": 16384, "seed": 1,
        "dataset": {"name": "synthetic", "options": {"train_samples": 16384, "test_samples": 16384}},
        "model": {"bottom_mlp": [256, 64], "top_mlp": [512, 256, 1], "embedding_dim": 64,
                  "table_sizes": [150000, 120000, 60000, 30000, 8]},
        "optimizer": {"lr": 0.1, "warmup_steps": 0, "decay_start_step": None, "decay_steps": 0},
    })


def _status(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def _steps(case: Case, rank: int, world: int, batch: object, count: int, reset_peak: bool = False) -> None:
    import gc

    import torch
    import torch.distributed as dist

    from dlrmbench.distributed.train import make_optimizer
    from dlrmbench.distributed.worker import build_distributed_workload

    work = build_distributed_workload(resolve(case), rank, world, rank, dist.group.WORLD)
    model = work.model
    optimizer = make_optimizer(model, world)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    gc.collect()
    dist.barrier()
    if reset_peak:
        Path("/proc/self/clear_refs").write_text("5")  # the peak resident set restarts from the current one
    mine = batch.share(work.dataset.share)  # type: ignore[attr-defined]  # this rank's share of the global batch
    for _ in range(count):
        logits = model(mine.numerical, mine.categorical)
        loss = loss_fn(logits, mine.label)
        optimizer.zero_grad(set_to_none=False)
        loss.backward()
        optimizer.step()


def measure_rank(rank: int, world: int, case: Case) -> dict:
    """Peak resident bytes of 3 steps of ``case`` above the resident set before its model was built.

    A tiny copy of the case runs first, so the code pages of libtorch the step touches (file-backed
    memory, counted in the resident set) are already resident in the baseline.
    """
    import gc

    import torch

    from dlrmbench.workload.build import open_dataset

    batch = next(iter(open_dataset(resolve(case), torch.device("cpu")).batches("train", case.batch_size, torch.device("cpu"))))
    tiny = case.model_copy(update={"model": case.model.model_copy(update={"table_sizes": [8] * 5, "hash_indices": True})})
    _steps(tiny, rank, world, batch, 2)
    gc.collect()
    baseline = _status("VmRSS")
    _steps(case, rank, world, batch, 3, reset_peak=True)
    return {"peak": _status("VmHWM") - baseline}


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc peak-RSS reset")
def test_estimate_is_within_20_percent_of_measured_peak(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")
    c = memory_case()
    plan = plan_memory(resolve(c), list(c.model.table_sizes), None)
    measured = run_ranks(2, measure_rank, c)
    print(format_plan(plan))
    for r, m in zip(plan.ranks, measured):
        print(f"rank {r.rank}: estimate {r.total_bytes / 2**20:.1f} MiB, measured {m['peak'] / 2**20:.1f} MiB")
    for r, m in zip(plan.ranks, measured):
        assert r.activation_bytes + r.gradient_bytes > 0.25 * r.total_bytes  # not just the tables
        assert abs(r.total_bytes - m["peak"]) <= 0.2 * m["peak"], (r.rank, r.total_bytes, m["peak"])


def test_multi_hot_sparse_gradient_counts_every_looked_up_id() -> None:
    """With multi-hot data the sparse embedding gradient holds one row per id, not one per feature."""
    from dlrmbench.plugins import get_registry
    from dlrmbench.resolved import resolve_case

    hotness = [3, 1, 5, 2]
    c = Case.model_validate({
        "name": "mh", "mode": "train", "device": "cpu", "batch_size": 64,
        "dataset": {"name": "synthetic", "options": {"train_samples": 256, "test_samples": 64,
                                                     "multi_hot_sizes": hotness}},
        "model": {"bottom_mlp": [8, 4], "top_mlp": [8, 1], "embedding_dim": 4, "table_sizes": [10, 20, 30, 40]},
    })
    resolved = resolve_case(c, get_registry())[0]
    assert resolved.hotness == hotness
    multi = plan_memory(resolved, [10, 20, 30, 40], None).ranks[0]
    one = plan_memory(resolved.model_copy(update={"hotness": None}), [10, 20, 30, 40], None).ranks[0]
    row = 4 * 4 + 8  # dim float32s plus an int64 index per looked-up id
    assert multi.gradient_bytes - one.gradient_bytes == 64 * (sum(hotness) - len(hotness)) * row


def test_data_parallel_ranks_are_planned_with_the_whole_model() -> None:
    """Every data-parallel rank holds all the tables (not dlrmbench's placement), at its slice of the batch."""
    from dlrmbench.memory_plan import plan_for_host

    sizes = [1000, 2000, 3000, 4000]
    dp = Case.model_validate({"name": "dp", "device": "cpu", "processes": 2, "batch_size": 256,
                              "distributed": {"topology": "data_parallel"},
                              "model": {"table_sizes": sizes, "bottom_mlp": [16, 8], "top_mlp": [16, 1],
                                        "embedding_dim": 8}})
    plan = plan_for_host(resolve(dp), Host(cpu_count=2, memory_bytes=8 * GIB))
    assert [r.table_bytes for r in plan.ranks] == [sum(sizes) * 8 * 4] * 2
    assert plan.batch_sizes == [128, 128] and all(row["bottom mlp"] == "yes" for row in plan.rows())
    hybrid = plan_for_host(resolve(dp.model_copy(update={"distributed": dp.distributed.model_copy(
        update={"topology": None})})), Host(cpu_count=2, memory_bytes=8 * GIB))
    assert sum(r.table_bytes for r in hybrid.ranks) == sum(sizes) * 8 * 4  # placed: each table once
