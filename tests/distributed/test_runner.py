"""Hybrid-parallel cases through the runner: torchrun, one gathered result, failures bounded in time."""

from __future__ import annotations

import pytest

import sys
import time
from pathlib import Path

from dlrmbench import allocators
from dlrmbench.config.schema import Case
from dlrmbench.distributed.launch import failure_reason, multinode_command, torchrun_command, torchrun_root_cause
from dlrmbench.runner.collect import collect
from dlrmbench.runner.isolate import run_isolated, worker_command
from dlrmbench.workload.build import resolve

BASE = {"suite": "s", "run_id": "r", "case": "c", "repeat": 0}


def small_case(**fields: object) -> Case:
    return Case.model_validate({
        "name": "c", "device": "cpu", "processes": 2, "batch_size": 256, "max_steps": 6, "progress_every": 2,
        "benchmark_warmup_steps": 1, "timeout_s": 120,
        "dataset": {"name": "synthetic", "options": {"train_samples": 2048, "test_samples": 512}},
        "model": {"bottom_mlp": [8, 4], "top_mlp": [8, 1], "embedding_dim": 4, "table_sizes": [50, 40, 30]},
        "optimizer": {"lr": 0.5, "warmup_steps": 0, "decay_start_step": None, "decay_steps": 0},
        "distributed": {"timeout_s": 30}, **fields,
    })


def test_the_runner_launches_torchrun_standalone() -> None:
    case = small_case()
    command = worker_command(resolve(case), Path("/tmp/case.json"))
    assert command == torchrun_command(case, Path("/tmp/case.json"))
    assert command[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert "--standalone" in command and command[command.index("--nproc_per_node") + 1] == "2"
    assert command[-3:] == ["-m", "dlrmbench.runner.worker", "/tmp/case.json"]
    single = small_case(processes=1)
    assert worker_command(resolve(single), Path("/tmp/case.json"))[1:3] == ["-m", "dlrmbench.runner.worker"]
    multi = multinode_command("case.json", 2, 8, "node0:29500")
    assert "--rdzv_endpoint" in multi and "node0:29500" in multi and "--standalone" not in multi


@pytest.mark.slow
def test_two_processes_give_one_result_with_every_rank(system_tmp: Path) -> None:
    from tests.distributed.harness import left_in

    case = small_case(allocator="glibc")
    outcome = run_isolated(resolve(case), lambda event: None)
    assert left_in(system_tmp) == []  # torchrun's torchelastic_* folders stayed there once
    result = collect(case, outcome, BASE)
    assert result.status == "ok", (result.reason, outcome.log_tail[-2000:])
    # torchrun passes the case's allocator on to its ranks, which record what they ran with
    recorded = result.environment["allocator"]
    assert {k: recorded[k] for k in ("name", "library", "settings", "huge_pages")} == {
        "name": "glibc", "library": "glibc malloc", "settings": {}, "huge_pages": False}
    assert recorded["kernel_thp"] == allocators.kernel_thp_mode() and isinstance(recorded["huge_page_bytes"], int)
    ranks = result.telemetry["ranks"]
    assert [r["rank"] for r in ranks] == [0, 1]
    assert all(len(r["step_times_s"]) == 6 and r["peak_memory_bytes"] > 0 for r in ranks)
    assert result.telemetry["placement"] == [[1, 2], [0]]  # 40 + 30 reach the cap first: closed buckets lead
    for r in (0, 1):
        assert result.metrics[f"step_time_mean_rank{r}"].value > 0
        assert result.metrics[f"peak_memory_rank{r}"].value > 0
    assert result.value("train_throughput") > 0 and 0 <= result.value("auc") <= 1
    assert len(result.step_times_s) == 6


def _failing_run(mode: str) -> tuple[object, float]:
    case = small_case()
    start = time.monotonic()
    outcome = run_isolated(resolve(case), lambda event: None, env={"DLRMBENCH_TEST_FAIL_RANK": "1",
                                                          "DLRMBENCH_TEST_FAIL_MODE": mode,
                                                          "DLRMBENCH_TEST_FAIL_AFTER_S": "0.5"})
    return collect(case, outcome, BASE), time.monotonic() - start


@pytest.mark.slow
def test_a_rank_that_raises_fails_the_case_with_its_error_and_nothing_hangs() -> None:
    result, elapsed = _failing_run("raise")
    assert result.status == "failed"
    assert result.reason.startswith("RuntimeError: rank 1: injected failure on rank 1"), result.reason
    assert elapsed < 60  # every rank exited: far below the case timeout (120 s)


@pytest.mark.slow
def test_a_rank_that_dies_fails_the_case_naming_it_and_nothing_hangs() -> None:
    result, elapsed = _failing_run("die")
    assert result.status == "failed"
    assert result.reason.startswith("rank 1 died (killed by SIGKILL) without reporting an error"), result.reason
    assert elapsed < 60


def test_root_cause_is_read_from_torchrun_log() -> None:
    log = """
============================================================
dlrmbench.runner.worker FAILED
------------------------------------------------------------
Root Cause (first observed failure):
[0]:
  time      : 2026-11-26_09:40:00
  host      : box
  rank      : 1 (local_rank: 1)
  exitcode  : -9 (pid: 123)
  error_file: <N/A>
  traceback : Signal 9 (SIGKILL) received by PID 123
============================================================
"""
    assert torchrun_root_cause(log) == (1, -9)
    assert torchrun_root_cause("no summary") is None
    assert failure_reason(log, "RuntimeError: rank 0: closed", {"failed_rank": 0}).startswith(
        "rank 1 died (killed by SIGKILL) without reporting an error")
    assert failure_reason(log, "RuntimeError: rank 1: boom", {"failed_rank": 1}) == "RuntimeError: rank 1: boom"
