"""``dlrmbench mlperf package`` writes a tree the MLPerf package checker, system checker and summarizer accept."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from dlrmbench.cli import make_cli
from dlrmbench.mlperf.dcnv2_log import Dcnv2Run
from tests.dlrmv2.mllog_runs import write_log

pytest.importorskip("mlperf_logging", reason="the mlperf-logging package (dlrmbench[mlperf]) is not installed")

ENVIRONMENT = {"dlrmbench": "0.1.0", "python": "3.11.2", "platform": "Linux-6.1-x86_64", "cpu": "Test CPU 9000",
               "cpu_count": 2, "memory_bytes": 24 * 2**30, "gpus": [], "packages": {"torch": "2.13.0", "numpy": "2.1"}}


def result_set(tmp_path: Path, runs: int, same_case: bool = False) -> Path:
    """A result set of ``runs`` cases (or repeats of one case), each run with its dlrm_dcnv2 log (open)."""
    results = tmp_path / "results" / "mlperf-dlrmv2" / "run1"
    results.mkdir(parents=True)
    template = str(tmp_path / "logs" / "{case}.txt")
    cases = []
    for run in range(runs):
        case = "train-small" if same_case else f"train-small-seed{run}"
        repeat = run if same_case else 0
        write_log(Path(template.replace("{case}", case)), Dcnv2Run(
            global_batch_size=512, learning_rate=0.004, seed=100 + run, eval_samples=4096, platform="cpu-box",
            org="ACME"), [0.6, 0.7, 0.81])
        name = f"{case}.r{repeat}.json"
        (results / name).write_text(json.dumps({"case": case, "repeat": repeat,
                                                "config": {"mlperf_log": {"path": template}}}))
        cases.append({"case": case, "repeat": repeat, "status": "ok", "file": name})
    (results / "run.json").write_text(json.dumps({"cases": cases, "environment": ENVIRONMENT}))
    return results


def tool(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=300, cwd=cwd)


def test_package_passes_the_mlperf_checkers_and_is_scored(tmp_path: Path) -> None:
    results = result_set(tmp_path, 10)
    out = tmp_path / "submission"
    run = CliRunner().invoke(make_cli(), ["mlperf", "package", str(results), str(out)])
    assert run.exit_code == 0, run.output
    org = out / "ACME"
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == sorted([f"ACME/results/cpu-box/dlrm_dcnv2/result_{i}.txt" for i in range(10)]
                           + ["ACME/systems/cpu-box.json"])
    assert (org / "results/cpu-box/dlrm_dcnv2/result_3.txt").read_bytes() == \
        (tmp_path / "logs" / "train-small-seed3.txt").read_bytes()
    desc = json.loads((org / "systems/cpu-box.json").read_text())
    assert desc["division"] == "open" and desc["host_processor_model_name"] == "Test CPU 9000"
    assert desc["status"] == "Research, Development, or Internal (RDI)" and desc["accelerators_per_node"] == "0"
    for ruleset in ("4.0.0", "5.0.0", "6.0.0"):
        checked = tool("mlperf_logging.package_checker", str(org), "training", ruleset,
                       "--log_output", str(tmp_path / "pc.log"), cwd=tmp_path)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "PACKAGE CHECKER FOUND NO ERRORS" in checked.stdout + checked.stderr
    system = tool("mlperf_logging.system_desc_checker", str(org / "systems/cpu-box.json"), "training", "5.0.0",
                  cwd=tmp_path)
    assert system.returncode == 0, system.stdout + system.stderr
    summary = tool("mlperf_logging.result_summarizer", str(org), "training", "5.0.0", "--csv",
                   str(tmp_path / "scores.csv"), cwd=tmp_path)
    assert summary.returncode == 0, summary.stdout + summary.stderr
    rows = list(csv.DictReader((tmp_path / "scores.csv").open()))
    assert [(r["division"], r["system"]) for r in rows] == [("open", "cpu-box")]
    minutes = sorted(_minutes(org / f"results/cpu-box/dlrm_dcnv2/result_{i}.txt") for i in range(10))
    olympic = sum(minutes[1:-1]) / 8  # drop the fastest and the slowest run
    assert float(rows[0]["dlrm_dcnv2"]) == pytest.approx(olympic, rel=1e-9, abs=1e-12)


def _minutes(path: Path) -> float:
    times = {}
    for line in path.read_text().splitlines():
        record = json.loads(line.split(":::MLLOG ", 1)[1])
        times.setdefault(record["key"], record["time_ms"])
    return (times["run_stop"] - times["run_start"]) / 60000


def test_wrong_run_count_and_shared_log_paths_are_refused(tmp_path: Path) -> None:
    out = tmp_path / "submission"
    run = CliRunner().invoke(make_cli(), ["mlperf", "package", str(result_set(tmp_path, 3)), str(out)])
    assert run.exit_code == 2 and "3 dlrm_dcnv2 MLPerf logs found; a submission holds exactly 10" in run.output
    assert not out.exists()
    shared = result_set(tmp_path / "b", 2, same_case=True)
    run = CliRunner().invoke(make_cli(), ["mlperf", "package", str(shared), str(out)])
    assert run.exit_code == 2 and "run the 10 runs as 10 cases" in run.output
