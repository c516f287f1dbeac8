"""Statistics between result sets: Mann-Whitney U against scipy, a reproducible bootstrap, the flag rule
on synthetic result sets (a known 20% slowdown flagged and failing the CI gate; noise alone not), --metric,
and version-1 result files still loading."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as scipy_stats

from dlrmbench.results.compare import compare
from dlrmbench.results.load import load_results
from dlrmbench.results.metrics import make, metric_key
from dlrmbench.results.schema import CaseEntry, CaseResult, RunManifest
from dlrmbench.results.stats import bootstrap_ci, bootstrap_ratio_ci, mann_whitney_u
from dlrmbench.results.store import atomic_write_json
from tests.conftest import run_cli

FIXED = [
    ([1.0, 2.0, 3.0], [4.0, 5.0, 6.0]),                                     # exact, extreme
    ([1.5, 2.2, 3.1, 9.0], [4.0, 5.0, 6.0, 0.5, 7.0]),                      # exact
    ([1, 1, 2, 2, 3], [2, 3, 3, 4, 4]),                                     # ties: asymptotic with tie correction
    (list(range(8)), list(range(4, 14))),                                   # n2 > 8
    ([0.9, 1.1, 1.0, 1.3, 0.8, 1.2, 1.05], [1.0 + 0.01 * i for i in range(40)]),  # small vs large, no ties: exact
]


@pytest.mark.parametrize("a,b", FIXED)
def test_mann_whitney_matches_scipy(a, b) -> None:
    ours = mann_whitney_u(a, b)
    theirs = scipy_stats.mannwhitneyu(a, b, alternative="two-sided")
    assert ours.u == pytest.approx(theirs.statistic)
    assert ours.p_value == pytest.approx(theirs.pvalue, rel=1e-9)


def test_mann_whitney_on_long_random_samples_matches_scipy() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.lognormal(0, 0.3, 500), rng.lognormal(0.02, 0.3, 700)
    assert mann_whitney_u(list(a), list(b)).p_value == pytest.approx(
        scipy_stats.mannwhitneyu(a, b, alternative="two-sided").pvalue, rel=1e-9)


def test_bootstrap_is_seeded_and_covers_the_statistic() -> None:
    rng = np.random.default_rng(0)
    samples = list(rng.normal(10.0, 1.0, 400))
    first, second = bootstrap_ci(samples, "mean"), bootstrap_ci(samples, "mean")
    assert first == second  # same samples, same interval, every time
    assert first[0] < float(np.mean(samples)) < first[1]
    # the standard error of a mean of 400 N(10, 1) draws is 0.05: a 95% interval is about +-0.1
    assert 0.15 < first[1] - first[0] < 0.25
    assert bootstrap_ci(samples, "mean", seed=1) != first  # the seed is what makes it deterministic
    assert bootstrap_ci([1.0], "mean") is None
    ratio = bootstrap_ratio_ci(samples, [s * 2 for s in samples], "median")
    assert ratio == bootstrap_ratio_ci(samples, [s * 2 for s in samples], "median")
    assert ratio[0] < 0.5 < ratio[1]


def _steps(rng: random.Random, mean_s: float, n: int) -> list[float]:
    """Step times with 3% jitter and a few 3x stalls, like a real CPU run."""
    return [mean_s * (3.0 if rng.random() < 0.02 else 1.0) * rng.gauss(1.0, 0.03) for _ in range(n)]


def write_set(root: Path, run_id: str, step_s: float, seed: int, repeats: int = 2, steps: int = 120,
              batch: int = 256) -> Path:
    """A result set of one training and one inference case whose metrics are computed from their step
    times exactly as the worker computes them."""
    rng = random.Random(seed)
    run_dir = root / "syn" / run_id
    manifest = RunManifest(suite="syn", suite_file="syn.yaml", suite_sha256="0" * 64, run_id=run_id,
                           dlrmbench_version="0", command=[], started_at="2026-01-01T00:00:00+00:00",
                           status="complete")
    for repeat in range(repeats):
        times = _steps(rng, step_s, steps)
        train = CaseResult(
            suite="syn", run_id=run_id, case="train", repeat=repeat, status="ok",
            config={"mode": "train", "batch_size": batch, "benchmark_warmup_steps": 0},
            metrics={m.name: m for m in [make("train_throughput", batch / float(np.mean(times))),
                                         make("train_throughput_p50", batch / float(np.median(times))),
                                         make("step_time_p90", float(np.percentile(times, 90)) * 1e3),
                                         make("step_time_p99", float(np.percentile(times, 99)) * 1e3),
                                         make("auc", 0.75 + 0.001 * repeat)]},
            step_times_s=times)
        latency = _steps(rng, step_s / 10, steps)
        infer = CaseResult(
            suite="syn", run_id=run_id, case="infer", repeat=repeat, status="ok",
            config={"mode": "inference", "batch_size": batch},
            metrics={metric_key(m.name, m.batch_size): m for m in [
                make("inference_throughput", 64 / float(np.mean(latency)), 64),
                make("inference_latency_p99", float(np.percentile(latency, 99)) * 1e3, 64)]},
            inference=[{"batch_size": 64, "steps": steps,
                        "end_to_end": {"step_times_s": latency, "throughput": 64 / float(np.mean(latency))}}])
        for result in (train, infer):
            name = f"{result.case}.r{repeat}.json"
            atomic_write_json(run_dir / "cases" / name, result)
            manifest.cases.append(CaseEntry(case=result.case, repeat=repeat, status="ok", file=f"cases/{name}"))
    atomic_write_json(run_dir / "run.json", manifest)
    return run_dir


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    root = tmp_path_factory.mktemp("stats")
    return {"base": write_set(root, "base", 0.010, seed=1),
            "noise": write_set(root, "noise", 0.010, seed=2),          # same machine, same code, other draws
            "slow": write_set(root, "slow", 0.012, seed=3)}            # every step 20% slower


def _compare(synthetic, which: str, metric: str | None = None):
    loaded = load_results([synthetic["base"], synthetic[which]])
    base = next(s for s in loaded.sets if s.path == synthetic["base"])
    return compare([s for s in loaded.sets if s is not base], base, metric=metric)


def test_a_known_20_percent_slowdown_is_flagged(synthetic) -> None:
    comparison = _compare(synthetic, "slow")
    train = next(r for r in comparison.rows if r.case == "train").cells["syn/slow"]
    assert train.samples.kind == "steps" and len(train.samples.values) == 240  # 2 repeats x 120 step times
    assert train.vs_baseline == pytest.approx(1 / 1.2, rel=0.03)
    assert train.flag == "regression" and train.p_value < 1e-6
    assert train.ratio_ci[0] < train.vs_baseline < train.ratio_ci[1] < 0.9
    infer = next(r for r in comparison.rows if r.case == "infer")
    assert infer.metric == "inference_throughput" and infer.batch_size == 64
    assert infer.cells["syn/slow"].flag == "regression"


def test_noise_alone_is_not_flagged(synthetic) -> None:
    comparison = _compare(synthetic, "noise")
    for row in comparison.rows:
        cell = row.cells["syn/noise"]
        assert cell.flag is None, (row.case, cell.vs_baseline, cell.p_value)
        assert abs(cell.vs_baseline - 1) < 0.05 and cell.note


def test_fail_on_regression_is_a_ci_gate(synthetic) -> None:
    slow = run_cli("compare", str(synthetic["slow"]), "--baseline", str(synthetic["base"]), "--fail-on-regression")
    assert slow.returncode == 1, slow.stdout + slow.stderr
    assert "Regression: syn/train train_throughput in syn/slow" in slow.stderr
    noise = run_cli("compare", str(synthetic["noise"]), "--baseline", str(synthetic["base"]), "--fail-on-regression")
    assert noise.returncode == 0, noise.stdout + noise.stderr
    assert "not significant" in noise.stdout or "below --min-change" in noise.stdout
    # a larger --min-change than the slowdown: shown as significant, not a regression
    tolerant = run_cli("compare", str(synthetic["slow"]), "--baseline", str(synthetic["base"]),
                       "--fail-on-regression", "--min-change", "0.25")
    assert tolerant.returncode == 0 and "below --min-change 25%" in tolerant.stdout
    needs_base = run_cli("compare", str(synthetic["slow"]), "--fail-on-regression")
    assert needs_base.returncode == 2 and "--fail-on-regression needs --baseline" in needs_base.stderr


def test_metric_picks_any_recorded_metric(synthetic) -> None:
    p90 = _compare(synthetic, "slow", metric="step_time_p90")
    row = next(r for r in p90.rows if r.case == "train")
    assert row.metric == "step_time_p90" and row.unit == "ms" and row.higher_is_better is False
    assert row.cells["syn/slow"].flag == "regression" and row.cells["syn/slow"].vs_baseline > 1.1
    # p99 sits among the random 3x stalls: the bulk moved, but the ratio's CI decides whether p99 did
    p99 = next(r for r in _compare(synthetic, "slow", metric="step_time_p99").rows if r.case == "train")
    assert p99.cells["syn/slow"].flag != "improvement"
    latency = _compare(synthetic, "slow", metric="inference_latency_p99@64")
    assert [(r.case, r.batch_size) for r in latency.rows] == [("infer", 64)]
    auc = _compare(synthetic, "slow", metric="auc")
    cell = next(r for r in auc.rows if r.case == "train").cells["syn/slow"]
    assert cell.samples.kind == "repeats" and cell.flag is None and "too few repeats" in cell.note
    out = run_cli("compare", str(synthetic["slow"]), "--metric", "nonsense")
    assert out.returncode == 2 and "--metric nonsense: no result records this metric" in out.stderr
    assert "step_time_p99" in out.stderr


V1_CASE = {
    "schema_version": 1, "suite": "old", "run_id": "r", "case": "infer", "status": "ok",
    "config": {"mode": "inference"},
    "metrics": {"inference_throughput_bs64": {"value": 1000.0, "unit": "samples/s", "higher_is_better": True},
                "inference_throughput_bs8": {"value": 300.0, "unit": "samples/s", "higher_is_better": True},
                "inference_latency_p99_bs64_device_only": {"value": 2.5, "unit": "ms", "higher_is_better": False},
                "embedding_parameter_bytes": {"value": 10.0, "unit": "B"}},
}


def test_version_1_files_load_with_the_batch_size_as_a_field(tmp_path) -> None:
    result = CaseResult.model_validate(V1_CASE)
    assert result.schema_version == 2
    m = result.metric("inference_latency_p99_device_only", 64)
    assert (m.name, m.batch_size, m.value) == ("inference_latency_p99_device_only", 64, 2.5)
    assert result.value("inference_throughput", 8) == 300.0
    assert result.metric("embedding_parameter_bytes").batch_size is None
    run_dir = tmp_path / "old" / "r"
    (run_dir / "cases").mkdir(parents=True)
    (run_dir / "cases" / "infer.json").write_text(json.dumps(V1_CASE))
    (run_dir / "run.json").write_text(json.dumps({
        "schema_version": 1, "suite": "old", "suite_file": "x", "suite_sha256": "0", "run_id": "r",
        "dlrmbench_version": "0", "command": [], "started_at": "2026-01-01T00:00:00+00:00"}))
    comparison = compare(load_results([run_dir]).sets)
    assert [(r.metric, r.batch_size, r.cells["old/r"].value) for r in comparison.rows] == [
        ("inference_throughput", 64, 1000.0)]
    out = run_cli("compare", str(run_dir), "--metric", "inference_throughput", "--format", "csv")
    assert out.returncode == 0 and "inference_throughput,64," in out.stdout and "inference_throughput,8," in out.stdout
