"""The runner samples telemetry around every case and stores it with the result."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

from rich.console import Console

import dlrmbench.runner.execute as execute_module
from dlrmbench.config.loader import load_suite
from dlrmbench.host import Host
from dlrmbench.plugins import get_registry
from dlrmbench.report.progress import SuiteProgress
from dlrmbench.results.schema import metric
from dlrmbench.runner.isolate import WorkerOutcome
from dlrmbench.runner.plan import plan

REPO = Path(__file__).resolve().parents[2]


def test_execute_attaches_the_timeline_to_each_case_result(tmp_path: Path, monkeypatch) -> None:
    loaded = load_suite(REPO / "suites" / "quickstart.yaml")
    planned = plan(loaded.cases[:1], Host(cpu_count=2), get_registry())

    def fake_run_isolated(case, on_event, timeout_s=None, env=None):
        outcome = WorkerOutcome(returncode=0)
        events = [{"event": "start", "total_steps": 20},
                  {"event": "progress", "step": 10, "step_times": [0.01] * 10},
                  {"event": "progress", "step": 20, "step_times": [0.01] * 10},
                  {"event": "result", "metrics": {
                      "train_throughput": metric(1000.0, "samples/s", True).model_dump(),
                      "train_steps": metric(20.0, "steps").model_dump()}}]
        for event in events:
            outcome.events.append(event)
            on_event(event)
            time.sleep(0.05)
        return outcome

    monkeypatch.setattr(execute_module, "run_isolated", fake_run_isolated)
    with SuiteProgress(Console(file=io.StringIO()), enabled=False) as progress:
        report = execute_module.execute(loaded, planned, tmp_path, {}, progress)
    stored = json.loads((report.run_dir / "cases" / f"{planned[0].case.name}.json").read_text())
    telemetry = stored["telemetry"]
    assert stored["status"] == "ok"
    assert telemetry["enabled"] and telemetry["interval_ms"] == 100
    assert telemetry["host"]["recorded"] is True
    assert telemetry["gpu"] == {"recorded": False, "reason": "the case uses no GPU", "devices": []}
    assert [m["event"] for m in telemetry["marks"]] == ["start", "progress", "progress", "result"]
    assert len(telemetry["timeline"]["t_s"]) == telemetry["samples"] >= 2
