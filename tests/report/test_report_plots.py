"""The report's diagnostic plots on result sets with step times and an inference sweep, names that are
markup or mathtext drawn literally, one PNG file per chart (no collisions), and headless Chromium."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from dlrmbench.results.load import load_results
from dlrmbench.results.metrics import make, metric_key
from dlrmbench.results.schema import CaseEntry, CaseResult, RunManifest
from dlrmbench.results.store import atomic_write_json
from tests.conftest import run_cli
from tests.report.test_html_report import CHROMIUM, browse, console_messages

pytest.importorskip("matplotlib", reason="the HTML report needs matplotlib (dlrmbench[report])")

# legal case names that differ only in '+', '=' and '_' (once mapped to one file name), markup, mathtext
TRAIN_NAMES = ["a+b", "a=b", "a_b", "odd [/x] [bold]", "math $x_1^{2$ bad"]


def write_set(root: Path, run_id: str, step_s: float, seed: int) -> Path:
    rng = random.Random(seed)
    run_dir = root / "plots" / run_id
    manifest = RunManifest(suite="plots", suite_file="p.yaml", suite_sha256="0" * 64, run_id=run_id,
                           dlrmbench_version="0", command=[], started_at="2026-01-01T00:00:00+00:00", status="complete")
    results = []
    for name in TRAIN_NAMES:
        times = [step_s * (4.0 if i % 17 == 0 else 1.0) * rng.gauss(1, 0.03) for i in range(80)]
        results.append(CaseResult(
            suite="plots", run_id=run_id, case=name, status="ok",
            config={"mode": "train", "batch_size": 128, "benchmark_warmup_steps": 5},
            metrics={m.name: m for m in [make("train_throughput", 128 / (sum(times[5:]) / 75)), make("auc", 0.7)]},
            step_times_s=times))
    records, metrics = [], []
    for bs in (1, 8, 64):
        lat = [0.0002 * bs ** 0.5 * rng.gauss(1, 0.05) for _ in range(40)]
        ordered = sorted(lat)
        records.append({"batch_size": bs, "steps": 40, "end_to_end": {"step_times_s": lat, "throughput": bs / (sum(lat) / 40)}})
        metrics += [make("inference_throughput", bs / (sum(lat) / 40), bs),
                    make("inference_latency_p50", ordered[20] * 1e3, bs), make("inference_latency_p99", ordered[-1] * 1e3, bs)]
    results.append(CaseResult(suite="plots", run_id=run_id, case="infer", status="ok",
                              config={"mode": "inference", "batch_size": 64},
                              metrics={metric_key(m.name, m.batch_size): m for m in metrics}, inference=records))
    for i, result in enumerate(results):
        atomic_write_json(run_dir / "cases" / f"c{i}.json", result)
        manifest.cases.append(CaseEntry(case=result.case, repeat=0, status="ok", file=f"cases/c{i}.json"))
    atomic_write_json(run_dir / "run.json", manifest)
    return run_dir


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    root = tmp_path_factory.mktemp("plots")
    base, new = write_set(root, "base", 0.010, 1), write_set(root, "new", 0.012, 2)
    out = root / "out"
    out.mkdir()
    result = run_cli("report", str(new), "--baseline", str(base), "--html", str(out / "report.html"),
                     "--png", str(out / "png"))
    return result, out


def test_report_has_the_diagnostic_plots(made) -> None:
    result, out = made
    assert result.returncode == 0, result.stderr
    html = (out / "report.html").read_text(encoding="utf-8")
    for text in ("Against the baseline", "Inference latency against batch size", "Step times",
                 "Training throughput", "Inference throughput", "95% CI", "p50-based", "regression"):
        assert text in html, text
    assert "published reference" not in html  # these sets have no reference: no chart or caption claims one
    pngs = sorted(p.name for p in (out / "png").glob("*.png"))
    assert {"throughput.png", "baseline_delta.png", "inference_latency.png"} <= set(pngs)
    # one step-time chart per case and result set: 6 cases x 2 sets, none overwritten by another
    assert len([p for p in pngs if p.startswith("steps_")]) == 12
    assert len([p for p in pngs if p.startswith("timeline_")]) == 0  # no telemetry in these sets
    assert f"and {len(pngs)} PNG file(s)" in result.stdout  # the count is of files written


def test_names_are_literal_and_never_share_a_file(made) -> None:
    _, out = made
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "odd [/x] [bold]" in html and "math $x_1^{2$ bad" in html and "plots/a+b" in html
    assert "plots/a=b" in html and "plots/a_b" in html
    steps = [p.name for p in (out / "png").glob("steps_new_*.png")]
    assert len(steps) == 6 and len(set(steps)) == 6
    assert "steps_new_a_b.png" in steps  # a plain name keeps its plain file name


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (Debian: apt-get install chromium)")
def test_chromium_shows_the_plots_without_console_errors(made, tmp_path: Path) -> None:
    import matplotlib.image

    _, out = made
    shot = out / "plots-screenshot.png"
    log = browse(out / "report.html", shot, tmp_path, height=9000)
    assert console_messages(log) == [], log
    assert shot.exists(), log
    pixels = matplotlib.image.imread(shot)[:, :, :3]
    assert (pixels < 0.95).any(axis=2).mean() > 0.03  # text and charts, not a blank page
