"""``dlrmbench mlperf rcp``: MLCommons' RCP checker (ruleset 6.0.0) over generated dlrm_dcnv2 logs. It passes
runs that converge as the reference's at global batch 55296 (RCP mean 0.762 epochs), fails runs that converge
too fast, and never claims convergence on fewer than the 10 runs a result needs."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from dlrmbench.cli import make_cli
from dlrmbench.mlperf.dcnv2_log import Dcnv2Run
from dlrmbench.mlperf.package import RUNS_REQUIRED
from tests.dlrmv2.mllog_runs import write_log

pytest.importorskip("mlperf_logging")
STEPS_PER_EPOCH = 20  # one evaluation every 0.05 epoch, as the rules schedule them


def _runs(folder: Path, converge_at: list[int], division: str = "closed", batch: int = 55296) -> list[Path]:
    """One log per run; run i reaches the target at evaluation ``converge_at[i]`` (epoch = that / 20)."""
    paths = []
    for seed, evals in enumerate(converge_at, 1):
        aucs = [0.79] * (evals - 1) + [0.8031]
        run = Dcnv2Run(global_batch_size=batch, learning_rate=0.004, seed=seed, division=division)  # type: ignore[arg-type]
        paths.append(write_log(folder / f"run-{seed}.txt", run, aucs, steps_per_epoch=STEPS_PER_EPOCH, eval_every=1))
    return paths


def _rcp(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(make_cli(), ["mlperf", "rcp", *args])
    return result.exit_code, result.output


def test_runs_that_converge_like_the_reference_pass(tmp_path: Path) -> None:
    paths = _runs(tmp_path, [15, 16, 15, 16, 15, 16, 15, 16, 15, 16])  # 0.75 and 0.80 epochs: olympic mean 0.775
    code, out = _rcp(*map(str, paths))
    assert code == 0, out
    assert "10 dlrm_dcnv2 run(s) at global batch 55296" in out
    assert "epochs to converge: 0.75, 0.8, 0.75, 0.8, 0.75, 0.8, 0.75, 0.8, 0.75, 0.8" in out
    assert "checker: RCP found, RCP test PASSED" in out
    assert "  reference: RCP mean 0.7615 epochs, minimum acceptable submission mean 0.7283" in out
    assert "  submission: olympic mean 0.7750 epochs" in out
    assert "convergence: the 10 runs pass the RCP test" in out


def test_runs_that_converge_too_fast_fail(tmp_path: Path) -> None:
    code, out = _rcp(*map(str, _runs(tmp_path, [13] * 10)))  # 0.65 epochs: below the min acceptable 0.728
    assert code == 1
    assert "checker: RCP found, RCP test FAILED" in out and "convergence NOT claimed: the RCP test failed" in out


def test_two_runs_that_never_converge_are_insufficient_convergence(tmp_path: Path) -> None:
    paths = _runs(tmp_path, [15] * 8)
    for seed in (9, 10):
        run = Dcnv2Run(global_batch_size=55296, learning_rate=0.004, seed=seed, division="closed")
        paths.append(write_log(tmp_path / f"run-{seed}.txt", run, [0.79] * 20, steps_per_epoch=STEPS_PER_EPOCH,
                               eval_every=1))
    code, out = _rcp(*map(str, paths))
    assert code == 1 and "checker: Insufficient convergence, RCP test FAILED" in out
    assert "epochs to converge: 0.75, 0.75, 0.75, 0.75, 0.75, 0.75, 0.75, 0.75, none, none" in out


def test_fewer_runs_than_a_result_needs_are_never_called_converged(tmp_path: Path) -> None:
    code, out = _rcp(*map(str, _runs(tmp_path, [15, 16, 15])))
    assert code == 1
    assert "checker: RCP found, RCP test PASSED" in out  # the checker itself does not count the runs
    assert ("convergence NOT claimed: 3 run(s); a dlrm_dcnv2 result needs 10 (MLPerf training rules; the "
            "checker's verdict on fewer is not one)") in out


def test_open_runs_ruleset_and_required_count(tmp_path: Path) -> None:
    from mlperf_logging.rcp_checker.rcp_checker import submission_runs

    assert submission_runs["training"]["dlrm_dcnv2"] == RUNS_REQUIRED == 10
    paths = _runs(tmp_path, [15, 16] * 5, division="open")
    code, out = _rcp(*map(str, paths))
    assert code == 0 and "not closed division (RCPs bind closed results): run-1.txt, run-2.txt" in out
    code, out = _rcp(str(paths[0]), "--ruleset", "6.1.0")
    assert code != 0 and "6.1.0 replaced it with dlrmv4" in out
    from tests.newcomer.test_mlperf_submission import _result_set

    code, out = _rcp(str(_result_set(tmp_path / "set", [0.6, 0.81])))  # a result set: its cases' logs
    assert "10 dlrm_dcnv2 run(s) at global batch 512" in out and "epochs to converge: 0.1, 0.1," in out
    code, out = _rcp(str(tmp_path / "missing"))
    assert code != 0 and "no such result set or MLPerf log" in out and "Traceback" not in out


def test_package_prints_the_rcp_verdict(tmp_path: Path) -> None:
    from tests.newcomer.test_mlperf_submission import _package, _result_set

    code, out = _package(str(_result_set(tmp_path / "set", [0.6, 0.81])), str(tmp_path / "sub"))
    assert code == 0, out
    assert "RCP checker (mlperf-logging, ruleset 6.0.0, pruned RCPs): 10 dlrm_dcnv2 run(s) at global batch 512" in out
    assert "convergence NOT claimed: the RCP test failed" in out  # 0.1 epoch: far faster than any RCP allows
