"""dlrm_dcnv2 MLLOG files pass the official compliance checker (rulesets 4.0.0 and 5.0.0)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dlrmbench.errors import UserError
from dlrmbench.mlperf.dcnv2_log import Dcnv2Run, division_problems, eval_interval_steps
from tests.dlrmv2.mllog_runs import write_log
from dlrmbench.workload.build import resolve

pytest.importorskip("mlperf_logging", reason="the mlperf-logging package (dlrmbench[mlperf]) is not installed")


def check(path: Path, ruleset: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mlperf_logging.compliance_checker", "--usage", "training",
                           "--ruleset", ruleset, "--werror", "--log_output", str(path.parent / "checker.log"),
                           str(path)], capture_output=True, text=True, timeout=120, cwd=path.parent)


@pytest.mark.parametrize("ruleset", ["4.0.0", "5.0.0"])
def test_closed_reference_run_passes(tmp_path: Path, ruleset: str) -> None:
    run = Dcnv2Run(global_batch_size=55296, learning_rate=0.004, seed=3, division="closed")
    path = write_log(tmp_path / "result_0.txt", run, [0.79, 0.801, 0.8029])
    result = check(path, ruleset)
    assert result.returncode == 0, result.stdout + result.stderr
    records = [json.loads(line.split(":::MLLOG ", 1)[1]) for line in path.read_text().splitlines()]
    eps = [r for r in records if r["key"] == "opt_adagrad_epsilon"]
    assert eps[0]["value"] == 1e-8
    assert [r["metadata"]["epoch_num"] for r in records if r["key"] == "eval_accuracy"] == [0.05, 0.1, 0.15]
    assert records[-1]["metadata"]["status"] == "success"


def test_closed_run_missing_target_fails_on_eval_accuracy(tmp_path: Path) -> None:
    run = Dcnv2Run(global_batch_size=65536, learning_rate=0.005, seed=3, division="closed")
    result = check(write_log(tmp_path / "r.txt", run, [0.70, 0.75]), "5.0.0")
    assert result.returncode != 0 and "eval_accuracy" in result.stdout + result.stderr


@pytest.mark.parametrize("ruleset", ["4.0.0", "5.0.0"])
def test_open_scaled_run_passes(tmp_path: Path, ruleset: str) -> None:
    run = Dcnv2Run(global_batch_size=512, learning_rate=0.004, seed=1, eval_samples=2048)
    result = check(write_log(tmp_path / "r.txt", run, [0.61, 0.66]), ruleset)
    assert result.returncode == 0, result.stdout + result.stderr


def test_closed_is_refused_for_non_reference_settings(tmp_path: Path) -> None:
    run = Dcnv2Run(global_batch_size=512, learning_rate=0.004, seed=1, division="closed", eval_samples=2048)
    assert division_problems(run) == ["an eval set of 2,048 samples (closed: MLPerf's 89,137,319)"]
    with pytest.raises(UserError, match="cannot log division closed: an eval set of 2,048"):
        write_log(tmp_path / "r.txt", run, [0.6])


def test_eval_interval_follows_the_rules() -> None:
    assert eval_interval_steps(65536) == 3200  # floor(4195197692 / (65536 * 20))
    assert eval_interval_steps(55296) == 3793


def test_a_training_run_writes_a_dlrm_dcnv2_log_the_checker_accepts(tmp_path: Path) -> None:
    """The worker writes dlrm_dcnv2 lines for an Adagrad DCNv2 case (open division: a tiny scaled run)."""
    from dlrmbench.runner.worker import run_case
    from dlrmbench.workload.reporter import Reporter
    from tests.workload.helpers import tiny_case

    case = tiny_case(name="v2", max_steps=6, test_freq=2, model={"interaction": "dcnv2"},
                     optimizer={"name": "adagrad", "lr": 0.05},
                     mlperf_log={"path": str(tmp_path / "{case}.txt"), "benchmark": "dlrm_dcnv2"})
    run_case(resolve(case), Reporter(stream=None))
    path = tmp_path / "v2.txt"
    records = [json.loads(line.split(":::MLLOG ", 1)[1]) for line in path.read_text().splitlines()]
    assert [r["value"] for r in records if r["key"] in ("submission_benchmark", "opt_name")] == ["dlrm_dcnv2", "adagrad"]
    assert [round(r["metadata"]["epoch_num"], 6) for r in records if r["key"] == "eval_accuracy"] == [0.25, 0.5, 0.75]
    for ruleset in ("4.0.0", "5.0.0"):
        result = check(path, ruleset)
        assert result.returncode == 0, result.stdout + result.stderr


def test_dlrm_dcnv2_log_settings_are_checked_when_the_suite_loads() -> None:
    from pydantic import ValidationError

    from tests.workload.helpers import tiny_case

    with pytest.raises(ValidationError, match="dlrm_dcnv2 needs optimizer.name adagrad"):
        tiny_case(mlperf_log={"path": "x", "benchmark": "dlrm_dcnv2"})
    with pytest.raises(ValidationError, match=r"closed \(dlrm_dcnv2\) needs the reference model"):
        tiny_case(optimizer={"name": "adagrad", "lr": 0.05},
                  mlperf_log={"path": "x", "benchmark": "dlrm_dcnv2", "division": "closed"})
    with pytest.raises(ValidationError, match="an adagrad run logs benchmark: dlrm_dcnv2"):
        tiny_case(optimizer={"name": "adagrad", "lr": 0.05}, mlperf_log={"path": "x"})
