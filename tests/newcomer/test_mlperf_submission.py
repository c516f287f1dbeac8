"""The MLPerf commands chain: the submission suite writes its logs inside the result set, ``mlperf package``
finds them there (wherever the set was moved), takes ``--org``/``--system``, and refuses runs that are not a
result (scaled down, failed, aborted) although the official checker would print SUCCESS for them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from dlrmbench.cli import make_cli
from dlrmbench.config.loader import load_suite
from dlrmbench.mlperf.dcnv2_log import Dcnv2Run
from tests.conftest import TINY_DEFAULTS, run_cli
from tests.dlrmv2.mllog_runs import write_log

TEMPLATE = "{run_dir}/mlperf/{case}.txt"


def _result_set(root: Path, aucs: list[float], comparable: bool = True, status: str = "ok") -> Path:
    """10 cases whose dlrm_dcnv2 logs live inside the result set, as the submission suite writes them."""
    results = root / "mlperf-dlrmv2-submission" / "run1"
    (results / "cases").mkdir(parents=True)
    entries = []
    for seed in range(1, 11):
        case = f"run-{seed}"
        write_log(results / "mlperf" / f"{case}.txt", Dcnv2Run(global_batch_size=512, learning_rate=0.004, seed=seed,
                                                                eval_samples=4096, platform="unspecified",
                                                                org="dlrmbench"), aucs)
        (results / "cases" / f"{case}.json").write_text(json.dumps(
            {"case": case, "status": status, "config": {"comparable": comparable, "mlperf_log": {"path": TEMPLATE}}}))
        entries.append({"case": case, "repeat": 0, "status": status, "file": f"cases/{case}.json"})
    (results / "run.json").write_text(json.dumps({"cases": entries, "environment": {"cpu": "Test CPU"}}))
    return results


def _package(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(make_cli(), ["mlperf", "package", *args])
    return result.exit_code, result.output


def test_the_submission_suite_is_ten_seeds_logging_into_the_result_set() -> None:
    cases = load_suite("mlperf-dlrmv2-submission").cases
    assert [c.seed for c in cases] == list(range(1, 11)) and len({c.name for c in cases}) == 10
    for case in cases:
        assert case.mlperf_log is not None and case.mlperf_log.benchmark == "dlrm_dcnv2"
        assert case.mlperf_log.path == TEMPLATE and case.auc_threshold == 0.80275


def test_package_finds_the_logs_in_a_moved_result_set_and_takes_org_and_system(tmp_path: Path) -> None:
    results = _result_set(tmp_path / "a", [0.6, 0.81])
    moved = tmp_path / "elsewhere" / "set"
    shutil.move(str(results), moved)
    code, out = _package(str(moved), str(tmp_path / "sub"), "--org", "ACME", "--system", "box-8")
    assert code == 0, out
    copied = tmp_path / "sub/ACME/results/box-8/dlrm_dcnv2/result_0.txt"
    source = (moved / "mlperf/run-1.txt").read_text()
    text = copied.read_text()
    assert '"key": "submission_org", "value": "ACME"' in text and '"value": "box-8"' in text
    # only those two records changed: every other line is the log as written
    assert [a for a in source.splitlines() if "submission_org" not in a and "submission_platform" not in a] == \
        [b for b in text.splitlines() if "submission_org" not in b and "submission_platform" not in b]
    assert json.loads((tmp_path / "sub/ACME/systems/box-8.json").read_text())["submitter"] == "ACME"


def test_package_refuses_runs_that_are_not_a_result(tmp_path: Path) -> None:
    aborted = _result_set(tmp_path / "aborted", [0.55, 0.56])  # never reached the target
    code, out = _package(str(aborted), str(tmp_path / "s1"))
    assert code == 2 and "these runs are not an MLPerf result" in out
    assert "run-1: run_stop status aborted; a submitted run must reach the quality target" in out
    assert not (tmp_path / "s1").exists()
    scaled = _result_set(tmp_path / "scaled", [0.81], comparable=False, status="failed")
    code, out = _package(str(scaled), str(tmp_path / "s2"))
    assert code == 2 and "run-3: scaled down (--scale-down), not the benchmark" in out
    assert "run-3: the case ended failed" in out
    code, out = _package(str(aborted), str(tmp_path / "s3"), "--allow-invalid")
    assert code == 0 and (tmp_path / "s3/dlrmbench/results/unspecified/dlrm_dcnv2/result_9.txt").is_file()


def test_a_case_writes_its_mlperf_log_inside_its_result_set(tmp_path: Path) -> None:
    suite = tmp_path / "tiny.yaml"
    suite.write_text("name: tiny\n" + TINY_DEFAULTS + "cases:\n  - name: logged\n    max_steps: 4\n"
                     f"    mlperf_log: {{path: '{TEMPLATE}'}}\n")
    result = run_cli("run", str(suite), "-o", str(tmp_path / "out"), "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    (run_dir,) = (tmp_path / "out" / "tiny").iterdir()
    log = run_dir / "mlperf" / "logged.txt"
    assert log.read_text().startswith(":::MLLOG ") and '"key": "run_stop"' in log.read_text()
    assert not (tmp_path / "{run_dir}").exists()
