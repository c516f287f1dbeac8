"""Statistics between result sets, the run as the unit of replication: the per-run Welch test against scipy,
verdicts on realistic result sets (per-run step times from a seeded model of between-run variation): a
known 20% slowdown flagged and failing the CI gate; the three cases users met (noisy unchanged runs
inconclusive, quiet unchanged runs "no change", a same-run-id copy with halved throughput shown and failing
the gate); one run a side; what cannot be compared; --metric; version-1 files still loading."""

from __future__ import annotations

import csv
import io
import json
import math
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as scipy_stats

from dlrmbench.results.compare import compare
from dlrmbench.results.load import load_results
from dlrmbench.results.metrics import make, metric_key
from dlrmbench.results.schema import CaseEntry, CaseResult, RunManifest
from dlrmbench.results.stats import mann_whitney_u, per_run_ratio_test
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


def _steps(rng: random.Random, mean_s: float, n: int) -> list[float]:
    """Step times with 3% jitter and a few 3x stalls, like a real CPU run."""
    return [mean_s * (3.0 if rng.random() < 0.02 else 1.0) * rng.gauss(1.0, 0.03) for _ in range(n)]


QUIET = {"other_cpu_cores_mean": 0.1, "other_cpu_cores_peak": 0.3, "cpu_count": 2}
BUSY = {"other_cpu_cores_mean": 1.3, "other_cpu_cores_peak": 2.0, "cpu_count": 2}


def write_set(root: Path, run_id: str, step_s: float, seed: int, repeats: int = 5, steps: int = 120,
              batch: int = 256, run_sd: float = 0.01, noisy: tuple[int, ...] = (), suite: str = "syn",
              started_at: str = "2026-01-01T00:00:00+00:00", environment: dict | None = None,
              labels: dict | None = None) -> Path:
    """A result set of one training and one inference case whose metrics are computed from their step
    times exactly as the worker computes them. Each repeat is one run (a worker process): its steps share
    a run factor drawn with ``run_sd`` (the between-run variation: memory layout, clocks, neighbours), so
    steps of one run are not independent samples of another. Runs in ``noisy`` ran while another process
    took 1.3 of the 2 cores: their telemetry says so, and they are 2.5x slower."""
    rng = random.Random(seed)
    run_dir = root / suite / run_id
    manifest = RunManifest(suite=suite, suite_file="syn.yaml", suite_sha256="0" * 64, run_id=run_id,
                           dlrmbench_version="0", command=[], started_at=started_at, status="complete",
                           environment=environment or {"machine": "m1"}, labels=labels or {})
    for repeat in range(repeats):
        factor = math.exp(rng.gauss(0.0, run_sd)) * (2.5 if repeat in noisy else 1.0)
        summary = BUSY if repeat in noisy else QUIET
        times = _steps(rng, step_s * factor, steps)
        train = CaseResult(
            suite=suite, run_id=run_id, case="train", repeat=repeat, status="ok",
            config={"mode": "train", "batch_size": batch, "benchmark_warmup_steps": 0},
            metrics={m.name: m for m in [make("train_throughput", batch / float(np.mean(times))),
                                         make("train_throughput_p50", batch / float(np.median(times))),
                                         make("step_time_p90", float(np.percentile(times, 90)) * 1e3),
                                         make("step_time_p99", float(np.percentile(times, 99)) * 1e3),
                                         make("auc", 0.75 + 0.001 * repeat)]},
            step_times_s=times, telemetry={"summary": summary})
        latency = _steps(rng, step_s * factor / 10, steps)
        infer = CaseResult(
            suite=suite, run_id=run_id, case="infer", repeat=repeat, status="ok",
            config={"mode": "inference", "batch_size": batch},
            metrics={metric_key(m.name, m.batch_size): m for m in [
                make("inference_throughput", 64 / float(np.mean(latency)), 64),
                make("inference_latency_p99", float(np.percentile(latency, 99)) * 1e3, 64)]},
            inference=[{"batch_size": 64, "steps": steps,
                        "end_to_end": {"step_times_s": latency, "throughput": 64 / float(np.mean(latency))}}],
            telemetry={"summary": summary})
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
            "noise": write_set(root, "noise", 0.010, seed=2),          # same machine, same code, other runs
            "slow": write_set(root, "slow", 0.012, seed=3),            # every step 20% slower
            "busy_base": write_set(root, "busy_base", 0.010, seed=4, repeats=3, noisy=(1, 2)),
            "busy_new": write_set(root, "busy_new", 0.010, seed=5, repeats=3, noisy=(0, 2)),
            "one_a": write_set(root, "one_a", 0.010, seed=6, repeats=1),
            "one_b": write_set(root, "one_b", 0.012, seed=7, repeats=1)}


def _compare(synthetic, which: str, metric: str | None = None, base: str = "base"):
    loaded = load_results([synthetic[base], synthetic[which]])
    base_set = next(s for s in loaded.sets if s.path == synthetic[base])
    return compare([s for s in loaded.sets if s is not base_set], base_set, metric=metric)


def test_welch_test_on_log_run_values_matches_scipy() -> None:
    a, b = [101.0, 99.5, 103.2, 100.4], [95.1, 96.0, 94.2]
    ours = per_run_ratio_test(a, b)
    theirs = scipy_stats.ttest_ind(np.log(a), np.log(b), equal_var=False)
    assert ours.p_value == pytest.approx(theirs.pvalue, rel=1e-9) and ours.method == "welch"
    assert ours.ratio == pytest.approx(float(np.exp(np.mean(np.log(a)) - np.mean(np.log(b)))))
    ci = theirs.confidence_interval(0.95)
    assert ours.ci == pytest.approx((float(np.exp(ci.low)), float(np.exp(ci.high))), rel=1e-9)
    assert per_run_ratio_test([100.0], [90.0]) is None  # one run a side: no variation to test against
    known = per_run_ratio_test([100.0], [90.0], known_cv=0.02)
    z = math.log(100 / 90) / (math.log1p(0.02) * math.sqrt(2))
    assert known.method == "known variation" and known.p_value == pytest.approx(2 * scipy_stats.norm.sf(z))
    assert per_run_ratio_test([100.0, 0.0], [90.0, 91.0]) is None  # no ratio of a zero


def test_steps_of_one_run_are_not_replicates(synthetic) -> None:
    """The step-level rank test the old compare used calls two unchanged runs different at p ~ 1e-14,
    because steps of one run share that run's factor; the per-run test does not."""
    one = load_results([synthetic["base"]]).sets[0].results
    first, second = [r for r in one if r.case == "train"][:2]
    assert mann_whitney_u(first.step_times_s, second.step_times_s).p_value < 1e-3  # steps: "different"
    comparison = _compare(synthetic, "noise")
    cell = next(r for r in comparison.rows if r.case == "train").cells["syn/noise"]
    assert cell.samples.kind == "runs" and len(cell.samples.values) == 5 and cell.flag is None


def test_a_known_20_percent_slowdown_is_flagged(synthetic) -> None:
    comparison = _compare(synthetic, "slow")
    train = next(r for r in comparison.rows if r.case == "train").cells["syn/slow"]
    assert train.vs_baseline == pytest.approx(1 / 1.2, rel=0.03)
    assert train.flag == "regression" and train.verdict == "regression" and train.p_value < 1e-4
    assert train.ratio_ci[0] < train.vs_baseline < train.ratio_ci[1] < 0.9
    assert train.note.startswith("regression (p=") and "5 vs 5 runs" in train.note
    infer = next(r for r in comparison.rows if r.case == "infer")
    assert infer.metric == "inference_throughput" and infer.batch_size == 64
    assert infer.cells["syn/slow"].flag == "regression"


def test_quiet_unchanged_runs_are_no_change(synthetic) -> None:
    """User case 2: on a quiet machine two unchanged result sets get "no change", not "significant"."""
    comparison = _compare(synthetic, "noise")
    for row in comparison.rows:
        cell = row.cells["syn/noise"]
        assert cell.flag is None and cell.verdict == "no change", (row.case, cell.note)
        assert abs(cell.vs_baseline - 1) < 0.05 and cell.note.startswith("no change")
    out = run_cli("compare", str(synthetic["noise"]), "--baseline", str(synthetic["base"]), "--fail-on-regression")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "no change" in out.stdout and "Warning" not in out.stdout + out.stderr


def test_noisy_unchanged_runs_are_inconclusive_and_never_fail_the_gate(synthetic) -> None:
    """User case 1: a process came and went during unchanged runs (2 of 3 runs a side 2.5x slower, their
    telemetry showing 1.3 of 2 cores used by others): inconclusive, exit 0, one warning line per case."""
    comparison = _compare(synthetic, "busy_new", base="busy_base")
    for row in comparison.rows:
        cell = row.cells["syn/busy_new"]
        assert cell.verdict == "inconclusive" and cell.flag is None
        assert cell.note.startswith("inconclusive (noisy: other processes used 1.3 of 2 CPU cores")
    out = run_cli("compare", str(synthetic["busy_new"]), "--baseline", str(synthetic["busy_base"]),
                  "--fail-on-regression", env={"COLUMNS": "300"})
    assert out.returncode == 0, out.stdout + out.stderr
    warnings = [line for line in out.stdout.splitlines() if line.startswith("Warning")]
    assert len(warnings) == 2, warnings  # one line per case (train, infer), not one per run and finding
    assert warnings[1] == ("Warning: syn/train: 4 of 6 runs noisy: other processes used 1.3 of 2 CPU cores on "
                           "average (peak 2.0) (syn/busy_base run 2, syn/busy_base run 3, syn/busy_new run 1, "
                           "syn/busy_new run 3)")
    assert "Regression" not in out.stderr
    assert "Not judged: 2 case(s) inconclusive or untested (noisy runs, or too few runs); the gate passes them" \
        in out.stderr


def test_a_same_run_id_copy_with_halved_throughput_is_shown_and_fails_the_gate(synthetic, tmp_path) -> None:
    """User case 3: a copy of a result set with every throughput halved, same suite/run id: its own column,
    labelled by location, a regression, exit 1."""
    copy = tmp_path / "copy" / "syn" / "base"
    shutil.copytree(synthetic["base"], copy)
    for case in (copy / "cases").glob("*.json"):
        data = json.loads(case.read_text())
        for m in data["metrics"].values():
            if m["name"].endswith("throughput"):
                m["value"] /= 2
        case.write_text(json.dumps(data))
    out = run_cli("compare", str(copy), "--baseline", str(synthetic["base"]), "--fail-on-regression",
                  "--format", "csv")
    assert out.returncode == 1, out.stdout + out.stderr
    rows = [r for r in csv.DictReader(io.StringIO(out.stdout)) if r["case"] == "train"]
    assert [r["result_set"] for r in rows] == [f"syn/base@{synthetic['base']}", f"syn/base@{copy}"]
    assert float(rows[1]["vs_baseline"]) == pytest.approx(0.5) and rows[1]["verdict"] == "regression"
    assert f"Regression: syn/train train_throughput in syn/base@{copy}: 0.500x of the baseline" in out.stderr
    assert "each is its own column, labelled by its location" in out.stderr


def test_one_run_a_side_cannot_be_judged_without_the_machine_variation(synthetic, tmp_path) -> None:
    comparison = _compare(synthetic, "one_b", base="one_a")
    cell = next(r for r in comparison.rows if r.case == "train").cells["syn/one_b"]
    assert cell.vs_baseline == pytest.approx(1 / 1.2, rel=0.05) and cell.flag is None and cell.verdict == "untested"
    assert cell.note.startswith("cannot separate a change from run-to-run variation (1 vs 1 runs")
    # the same two runs, with this machine's run-to-run variation stored in both sets by `dlrmbench doctor`
    stored = {"run_to_run": {"cv": 0.02, "machine": "m1", "runs": 5}}
    a = write_set(tmp_path, "a", 0.010, seed=6, repeats=1, environment=stored)
    b = write_set(tmp_path, "b", 0.012, seed=7, repeats=1, environment=stored)
    loaded = load_results([a, b])
    known = compare([loaded.sets[1]], loaded.sets[0])
    cell = next(r for r in known.rows if r.case == "train").cells["syn/b"]
    assert cell.flag == "regression" and "machine variation" in cell.note
    # another machine's variation says nothing about this one
    other = write_set(tmp_path / "x", "b", 0.012, seed=7, repeats=1,
                      environment={"run_to_run": {"cv": 0.02, "machine": "m2"}})
    loaded = load_results([a, other])
    assert next(r for r in compare([loaded.sets[1]], loaded.sets[0]).rows
                if r.case == "train").cells["syn/b"].verdict == "untested"


def test_what_cannot_be_compared_is_named_and_fails_the_gate(synthetic, tmp_path) -> None:
    partial = tmp_path / "syn" / "partial"
    shutil.copytree(synthetic["noise"], partial)
    for case in (partial / "cases").glob("infer.*"):
        case.unlink()
    manifest = json.loads((partial / "run.json").read_text())
    manifest["run_id"] = "partial"
    manifest["cases"] = [c for c in manifest["cases"] if c["case"] != "infer"]
    (partial / "run.json").write_text(json.dumps(manifest))
    for case in (partial / "cases").glob("*.json"):
        data = json.loads(case.read_text())
        data["run_id"] = "partial"
        case.write_text(json.dumps(data))
    out = run_cli("compare", str(partial), "--baseline", str(synthetic["base"]), "--fail-on-regression")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "Not compared: syn/infer inference_throughput @ batch 64 in syn/partial: not run in syn/partial" in out.stderr
    assert "1 case(s) could not be compared with the baseline" in out.stderr
    allowed = run_cli("compare", str(partial), "--baseline", str(synthetic["base"]), "--fail-on-regression",
                      "--allow-missing")
    assert allowed.returncode == 0 and "Not compared: syn/infer" in allowed.stderr


def test_sets_measured_hours_apart_are_named(synthetic, tmp_path) -> None:
    later = write_set(tmp_path, "later", 0.010, seed=2, started_at="2026-01-01T05:30:00+00:00")
    loaded = load_results([synthetic["base"], later])
    base = next(s for s in loaded.sets if s.path == synthetic["base"])
    comparison = compare([s for s in loaded.sets if s is not base], base)
    assert comparison.timing == ["syn/later was measured 5.5 hours apart from the baseline: the machine's state "
                                 "(other load, clocks, temperature) may have changed in between; interleave runs "
                                 "(run --repeat N with both suites) for a fair ratio"]
    state = [{"check": "CPU governor", "value": "performance", "stable": True},
             {"check": "other processes' CPU", "value": "0.1 of 2 cores", "stable": False}]
    a = write_set(tmp_path / "s", "a", 0.010, seed=2, environment={"machine": "m1", "machine_state": state})
    changed = [{**state[0], "value": "powersave"}, {**state[1], "value": "1.9 of 2 cores"}]
    b = write_set(tmp_path / "s", "b", 0.010, seed=3, environment={"machine": "m1", "machine_state": changed})
    loaded = load_results([a, b])
    notes = compare([loaded.sets[1]], loaded.sets[0]).timing
    # the governor is a setting of the machine; other processes' load at the start is not compared
    assert notes == ["syn/b ran in a different machine state from the baseline: CPU governor: performance -> powersave"]


def test_fail_on_regression_is_a_ci_gate(synthetic) -> None:
    slow = run_cli("compare", str(synthetic["slow"]), "--baseline", str(synthetic["base"]), "--fail-on-regression")
    assert slow.returncode == 1, slow.stdout + slow.stderr
    assert "Regression: syn/train train_throughput in syn/slow" in slow.stderr
    # a larger --min-change than the slowdown: significant, but no change beyond it
    tolerant = run_cli("compare", str(synthetic["slow"]), "--baseline", str(synthetic["base"]),
                       "--fail-on-regression", "--min-change", "0.25", env={"COLUMNS": "300"})
    assert tolerant.returncode == 0 and "no change beyond ±25%" in tolerant.stdout
    needs_base = run_cli("compare", str(synthetic["slow"]), "--fail-on-regression")
    assert needs_base.returncode == 2 and "--fail-on-regression needs --baseline" in needs_base.stderr


def test_metric_picks_any_recorded_metric(synthetic) -> None:
    p90 = _compare(synthetic, "slow", metric="step_time_p90")
    row = next(r for r in p90.rows if r.case == "train")
    assert row.metric == "step_time_p90" and row.unit == "ms" and row.higher_is_better is False
    assert row.cells["syn/slow"].flag == "regression" and row.cells["syn/slow"].vs_baseline > 1.1
    latency = _compare(synthetic, "slow", metric="inference_latency_p99@64")
    assert [(r.case, r.batch_size) for r in latency.rows] == [("infer", 64)]
    auc = _compare(synthetic, "slow", metric="auc")
    cell = next(r for r in auc.rows if r.case == "train").cells["syn/slow"]
    assert cell.samples.kind == "runs" and cell.flag is None and cell.verdict == "no change"
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


def test_the_statistics_page_states_the_rules_in_force() -> None:
    """docs/statistics.md is the contract: its defaults and thresholds are the code's."""
    from dlrmbench.results import compare as compare_module, history, noise, verdict

    page = " ".join((Path(__file__).resolve().parents[2] / "docs" / "statistics.md").read_text().split())
    assert f"`--alpha` (default **{compare_module.DEFAULT_ALPHA:g}**)" in page
    assert f"`--min-change` (default **{compare_module.DEFAULT_MIN_CHANGE:.0%}**)" in page
    assert f"From {verdict.RANK_TEST_RUNS} runs a side the Mann-Whitney U test" in page
    assert f"fewer than {verdict.MIN_RUNS} quiet runs the verdict" in page
    assert verdict.KNOWN_VARIATION_MARGIN == 2.0 and "counted **twice**" in page
    assert f"≥ {noise.OTHER_CPU_CORES} core on average" in page
    assert f"lowest reading > {noise.CPU_CLOCK_DROP:.0%} below the highest" in page
    assert f"in > {noise.GPU_THROTTLED:.0%} of samples" in page
    assert f"> {noise.MEAN_P50_DIVERGENCE:.0%} away from the median step time" in page
    assert f"penalty {history.PENALTY:g} σ² log n" in page and f"at least {history.MIN_SEGMENT} points a segment" in page
    assert "started more than an hour from the baseline" in page and compare_module.HOURS_APART == 1.0
