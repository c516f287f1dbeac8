"""A stopped rank fails its case at ``distributed.timeout_s``, named; no case leaves anything in the temp folder."""

from __future__ import annotations

import re
import time
from pathlib import Path

import psutil
import pytest

from dlrmbench.distributed.launch import WATCH_INTERVAL_S
from dlrmbench.runner.collect import collect
from dlrmbench.runner.isolate import run_isolated
from dlrmbench.workload.build import resolve
from tests.distributed.harness import left_in
from tests.distributed.test_runner import BASE, small_case

#: What the promise allows past ``distributed.timeout_s``: the watch's interval, the kill, a loaded machine.
MARGIN_S = 3.0


@pytest.mark.slow
def test_a_stopped_rank_fails_the_case_within_its_timeout_naming_it(system_tmp: Path) -> None:
    timeout_s = 3.0
    case = small_case(distributed={"timeout_s": timeout_s})
    built: list[float] = []

    def on_event(event: dict) -> None:
        if event.get("event") == "built":  # rank 0 built; rank 1 stops itself 0.5 s after its group is up
            built.append(time.monotonic())

    outcome = run_isolated(resolve(case), on_event, env={"DLRMBENCH_TEST_FAIL_RANK": "1",
                                                         "DLRMBENCH_TEST_FAIL_MODE": "stop",
                                                         "DLRMBENCH_TEST_FAIL_AFTER_S": "0.5"})
    ended = time.monotonic()
    result = collect(case, outcome, BASE)
    assert result.status == "failed"
    assert re.match(r"rank 1 \(pid \d+\) was stopped .* for 3 s, the case's distributed.timeout_s", result.reason), \
        result.reason
    assert built and ended - built[0] < 0.5 + timeout_s + WATCH_INTERVAL_S + MARGIN_S, ended - built[0]
    pid = int(re.search(r"pid (\d+)", result.reason).group(1))
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, "stopped rank left"
    assert left_in(system_tmp) == []


@pytest.mark.slow
def test_an_interrupted_distributed_case_leaves_no_temp_folder(system_tmp: Path) -> None:
    case = small_case()

    def on_event(event: dict) -> None:
        if event.get("event") == "built":
            raise KeyboardInterrupt  # as the runner's signal handler does on Ctrl-C, SIGTERM or SIGHUP

    outcome = run_isolated(resolve(case), on_event)
    assert outcome.interrupted
    assert left_in(system_tmp) == []
