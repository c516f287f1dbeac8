"""A stop request (SIGTERM/SIGHUP/Ctrl-C) that arrives outside a worker — while a case starts, or just
after it ended — still leaves the case recorded and the manifest finished and truthful."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

import dlrmbench.runner.execute as execute_module
from dlrmbench.config.loader import load_suite
from dlrmbench.host import Host
from dlrmbench.plugins import get_registry
from dlrmbench.results.schema import metric
from dlrmbench.runner.isolate import WorkerOutcome
from dlrmbench.runner.plan import plan
from dlrmbench.runner.signals import Stopped

REPO = Path(__file__).resolve().parents[2]


class Progress:
    """Raises a stop request at a chosen point, as a signal handler would."""

    def __init__(self, at: str) -> None:
        self.at = at

    def start_case(self, label: str, batch_size: int) -> None:
        if self.at == "start":
            raise Stopped(signal.SIGTERM)

    def on_event(self, event: dict) -> None:
        pass

    def end_case(self, status: str, summary: str) -> None:
        if self.at == "end":
            raise Stopped(signal.SIGHUP)


def _ok_outcome(case, on_event, timeout_s=None, env=None) -> WorkerOutcome:
    outcome = WorkerOutcome(returncode=0)
    outcome.events.append({"event": "result", "metrics": {
        "train_throughput": metric(1000.0, "samples/s", True).model_dump()}})
    return outcome


@pytest.mark.parametrize("at, code, status", [("start", 143, "interrupted"), ("end", 129, "ok")])
def test_a_stop_outside_the_worker_still_records_the_case(tmp_path: Path, monkeypatch, at, code, status) -> None:
    loaded = load_suite(REPO / "suites" / "quickstart.yaml")
    planned = plan(loaded.cases[:2], Host(cpu_count=2), get_registry())
    monkeypatch.setattr(execute_module, "run_isolated", _ok_outcome)
    with pytest.raises(execute_module.RunInterrupted) as info:
        execute_module.execute(loaded, planned, tmp_path, {}, Progress(at))
    assert info.value.exit_code == code
    run_dir = info.value.run_dir
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["status"] == "interrupted" and manifest["finished_at"]
    first = planned[0].case.name
    assert [(e["case"], e["status"]) for e in manifest["cases"]] == [(first, status)]
    stored = json.loads((run_dir / "cases" / f"{first}.json").read_text())
    assert stored["status"] == status
    if status == "ok":
        assert stored["metrics"]["train_throughput"]["value"] == 1000.0
    else:
        assert stored["reason"] == "stopped by SIGTERM (the run was asked to stop)"
