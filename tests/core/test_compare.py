"""`dlrmbench compare`: ratios to references and baselines, bad result files (statistics: test_statistics.py)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from dlrmbench.results.compare import compare
from dlrmbench.results.load import load_results
from dlrmbench.results.schema import CaseEntry, CaseResult, RunManifest, metric
from dlrmbench.results.store import atomic_write_json
from tests.conftest import run_cli


def make_run(root: Path, run_id: str, throughputs: dict[str, list[float]], reference: float | None = None,
             suite: str = "s") -> Path:
    """Write a result set with one case per key and one repeat per value."""
    run_dir = root / suite / run_id
    manifest = RunManifest(suite=suite, suite_file="s.yaml", suite_sha256="0" * 64, run_id=run_id,
                           dlrmbench_version="0", command=[], started_at="2026-01-01T00:00:00+00:00",
                           status="complete")
    for case, values in throughputs.items():
        for repeat, value in enumerate(values):
            config = {"mode": "train", "batch_size": 1024, "comparable": True,
                      "reference": {"throughput": reference, "auc": 0.8, "source": "test"} if reference else None}
            result = CaseResult(suite=suite, run_id=run_id, case=case, repeat=repeat, status="ok", config=config,
                                metrics={"train_throughput": metric(value, "samples/s", True),
                                         "auc": metric(0.79, "", True)})
            name = f"{case}.r{repeat}.json"
            atomic_write_json(run_dir / "cases" / name, result)
            manifest.cases.append(CaseEntry(case=case, repeat=repeat, status="ok", file=f"cases/{name}"))
    atomic_write_json(run_dir / "run.json", manifest)
    return run_dir


def test_median_spread_and_ratios(tmp_path):
    base = make_run(tmp_path, "base", {"a": [100, 102, 98], "b": [50, 50, 50]}, reference=200)
    new = make_run(tmp_path, "new", {"a": [101, 99, 100], "b": [40, 41, 40]}, reference=200)
    loaded = load_results([base, new])
    base_set = next(s for s in loaded.sets if s.path == base)
    comparison = compare([s for s in loaded.sets if s.path != base], baseline=base_set)
    rows = {r.case: r for r in comparison.rows}
    a_new = rows["a"].cells["s/new"]
    assert a_new.value == 100 and a_new.rel_spread == pytest.approx(0.02)
    assert a_new.vs_reference == pytest.approx(0.5)
    assert a_new.vs_baseline == pytest.approx(100 / 100)
    assert a_new.flag is None and a_new.verdict == "no change"
    b_new = rows["b"].cells["s/new"]
    # -20% over three quiet runs a side: the per-run test (Welch on log values) finds it
    assert b_new.vs_baseline == pytest.approx(40 / 50) and b_new.flag == "regression"
    assert b_new.note.startswith("regression (p=") and "3 vs 3 runs" in b_new.note
    assert rows["b"].cells["s/base"].rel_spread == 0.0


def test_cli_formats_and_malformed_files(tmp_path):
    make_run(tmp_path, "r1", {"a": [100.0]}, reference=400)
    run2 = make_run(tmp_path, "r2", {"a": [120.0]}, reference=400)
    (run2 / "cases" / "junk.json").write_text("{not json")
    result = run_cli("compare", str(tmp_path), "--format", "csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["result_set"], float(r["value"]), float(r["vs_reference"])) for r in rows] == [
        ("s/r1", 100.0, 0.25), ("s/r2", 120.0, 0.3)]
    assert "junk.json: not valid JSON" in result.stderr and "skipped" in result.stderr
    as_json = json.loads(run_cli("compare", str(tmp_path), "--format", "json").stdout)
    assert as_json["result_sets"] == ["s/r1", "s/r2"]
    md = run_cli("compare", str(tmp_path), "--format", "markdown", "--baseline", str(tmp_path / "s" / "r1")).stdout
    # one run each: no test is possible, so the +20% is shown but not flagged (rule in results/verdict.py)
    assert ("| s/a | train\\_throughput \\[samples/s\\] | 400 | 100 (0.250x ref) | 120 (0.300x ref) (1.200x base, "
            "cannot separate a change from run-to-run variation (1 vs 1 runs;") in md
    table = run_cli("compare", str(tmp_path), env=None)
    assert table.returncode == 0 and "s/a" in table.stdout


def test_no_results_and_bad_paths(tmp_path):
    empty = run_cli("compare", str(tmp_path))
    assert empty.returncode == 2 and "no dlrmbench results found" in empty.stderr
    missing = run_cli("compare", str(tmp_path / "nope"))
    assert missing.returncode == 2 and "no such file or directory" in missing.stderr
    bad_run = tmp_path / "s" / "x"
    bad_run.mkdir(parents=True)
    (bad_run / "run.json").write_text('{"suite": 1}')
    make_run(tmp_path, "good", {"a": [1.0]})
    result = run_cli("compare", str(tmp_path), "--format", "csv")
    assert result.returncode == 0 and "run.json: not a dlrmbench result" in result.stderr


def test_to_frame_is_tidy(tmp_path):
    make_run(tmp_path, "r1", {"a": [100.0, 110.0]})
    from dlrmbench.results.load import to_frame

    frame = to_frame(load_results([tmp_path]).sets)
    thr = frame[frame.metric == "train_throughput"]
    assert list(thr.value) == [100.0, 110.0] and set(thr.unit) == {"samples/s"}
    assert {"case", "repeat", "backend", "precision", "batch_size"} <= set(frame.columns)


def test_every_auc_compare_shows_comes_with_its_interval_and_samples(tmp_path):
    """An AUC from 50 test rows says so next to the figure, in compare's table as in the run summary."""
    run_dir = make_run(tmp_path, "few", {"tiny": [100.0]})
    path = run_dir / "cases" / "tiny.r0.json"
    data = __import__("json").loads(path.read_text())
    data["evaluations"] = [{"step": 10, "auc": 0.79, "log_loss": 0.5, "samples": 50, "positives": 24}]
    path.write_text(__import__("json").dumps(data))
    (cell,) = compare(load_results([run_dir]).sets).rows[0].cells.values()
    assert cell.auc_text.startswith("0.7900 ±") and cell.auc_text.endswith("(n=50)")
    done = run_cli("compare", str(tmp_path), env={**__import__("os").environ, "COLUMNS": "200"})
    assert done.returncode == 0, done.stderr
    assert "AUC 0.7900 ±" in done.stdout and "(n=50)" in done.stdout
