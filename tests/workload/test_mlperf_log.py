"""A short CPU training run writes an MLPerf ``dlrm`` log that the official checker accepts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dlrmbench.runner.worker import run_case
from dlrmbench.workload.reporter import Reporter
from .helpers import tiny_case
from dlrmbench.workload.build import resolve

pytest.importorskip("mlperf_logging", reason="the mlperf-logging package (dlrmbench[mlperf]) is not installed")


def _records(path: Path) -> list[dict]:
    return [json.loads(line.split(":::MLLOG ", 1)[1]) for line in path.read_text().splitlines() if ":::MLLOG" in line]


def _check(path: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mlperf_logging.compliance_checker", "--usage", "training", "--ruleset", "2.1.0",
         "--log_output", str(tmp_path / "checker.log"), str(path)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )


def test_short_cpu_run_log_passes_the_compliance_checker(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "{case}.mllog"
    case = tiny_case(name="mlperf-tiny", max_steps=6, test_freq=2, mlperf_log={"path": str(log)})
    run_case(resolve(case), Reporter(stream=None))
    path = tmp_path / "logs" / "mlperf-tiny.mllog"
    records = _records(path)
    keys = [r["key"] for r in records]
    assert keys.index("submission_division") < keys.index("init_stop") < keys.index("run_start")
    evals = [r for r in records if r["key"] == "eval_accuracy"]
    assert [round(r["metadata"]["epoch_num"], 6) for r in evals] == [1 + 2 / 8, 1 + 4 / 8, 1 + 6 / 8]
    assert all(0 <= r["value"] <= 1 for r in evals)
    assert keys.count("run_stop") == 1 and records[-1]["key"] == "run_stop"
    assert records[-1]["metadata"]["status"] == "aborted"  # a tiny run does not reach AUC 0.8025
    result = _check(path, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_closed_division_checks_weights_and_target(tmp_path: Path) -> None:
    """Closed needs the reference layer counts: the 9 weights_initialization tensors are logged; the
    tiny run misses the 0.8025 target, which is exactly what the checker must then complain about."""
    case = tiny_case(name="closed", max_steps=4, mlperf_log={"path": str(tmp_path / "c.mllog"), "division": "closed"},
                     model={"num_numerical": 3, "bottom_mlp": [5, 5, 4], "embedding_dim": 4,
                            "top_mlp": [6, 6, 6, 3, 1], "table_sizes": [7, 5, 3]})
    run_case(resolve(case), Reporter(stream=None))
    tensors = sorted(r["metadata"]["tensor"] for r in _records(tmp_path / "c.mllog")
                     if r["key"] == "weights_initialization")
    assert tensors == sorted(["embeddings"] + [f"bottom_mlp_dense{i}" for i in (1, 2, 3)]
                             + [f"top_mlp_dense{i}" for i in (1, 2, 3, 4, 5)])
    result = _check(tmp_path / "c.mllog", tmp_path)
    out = result.stdout + result.stderr
    failed = [line for line in out.splitlines() if "Failed" in line or "ERROR" in line and "FAILED" not in line]
    assert result.returncode != 0
    assert failed == ["WARNING -  Failed checks for eval_accuracy : v['value'] >= 0.8025 and v['value'] < 1.0"]


def test_failed_run_still_closes_the_log(tmp_path: Path) -> None:
    case = tiny_case(name="div", max_steps=6, optimizer={"lr": 1e30}, mlperf_log={"path": str(tmp_path / "d.mllog")})
    with pytest.raises(Exception, match="at step"):
        run_case(resolve(case), Reporter(stream=None))
    records = _records(tmp_path / "d.mllog")
    assert records[-1]["key"] == "run_stop" and records[-1]["metadata"]["status"] == "aborted"
