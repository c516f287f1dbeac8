"""Result files: standard JSON (no NaN literal), the umask's mode, malformed files skipped, copies not pooled."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from dlrmbench.cli import make_cli
from dlrmbench.results.load import load_results
from dlrmbench.results.schema import CaseResult, RunManifest, metric
from dlrmbench.results.store import atomic_write_json, atomic_write_text

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "results"


def _result(**over) -> CaseResult:
    fields = dict(suite="s", run_id="r1", case="c", status="ok", config={"mode": "train"},
                  metrics={"train_throughput": metric(100.0, "samples/s", True)})
    fields.update(over)
    return CaseResult(**fields)


def _write_set(root: Path, run_id: str = "r1", throughput: float = 100.0) -> Path:
    run_dir = root / "s" / run_id
    manifest = RunManifest(suite="s", suite_file="s.yaml", suite_sha256="0", run_id=run_id, dlrmbench_version="0",
                           command=[], started_at="now", status="complete")
    atomic_write_json(run_dir / "run.json", manifest)
    result = _result(run_id=run_id, metrics={"train_throughput": metric(throughput, "samples/s", True)})
    atomic_write_json(run_dir / "cases" / "c.json", result)
    return run_dir


def test_non_finite_numbers_are_written_as_standard_json_and_read_back(tmp_path: Path) -> None:
    result = _result(metrics={"auc": metric(float("nan"), "", True, "test AUC")},
                     step_times_s=[0.5, float("inf")], evaluations=[{"auc": float("nan"), "step": 3}])
    path = tmp_path / "c.json"
    atomic_write_json(path, result)
    text = path.read_text()
    data = json.loads(text, parse_constant=lambda name: pytest.fail(f"literal {name} in the file"))
    assert data["metrics"]["auc"]["value"] is None
    assert data["metrics"]["auc"]["description"] == "test AUC; not a finite number (NaN): recorded as null"
    back = CaseResult.model_validate(data)
    assert back.step_times_s == [0.5, float("inf")] and back.value("auc") is None


def test_old_files_with_nan_literals_still_load(tmp_path: Path) -> None:
    run_dir = _write_set(tmp_path)
    case = run_dir / "cases" / "c.json"
    case.write_text(case.read_text().replace('"value": 100.0', '"value": NaN'))
    loaded = load_results([tmp_path])
    assert loaded.problems == [] and loaded.sets[0].results[0].value("train_throughput") != 100.0


def test_files_are_written_with_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
        os.umask(0o077)
        atomic_write_text(tmp_path / "b.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "b.txt").stat().st_mode) == 0o600


@pytest.mark.parametrize("field, value", [
    ("config", ["not", "a", "mapping"]),
    ("metrics", {"train_throughput": {"value": "fast", "unit": "samples/s"}}),
    ("config", {"mode": "train", "dataset": ["synthetic"]}),
    ("config", {"mode": "train", "reference": {"throughput": "many"}}),
    ("config", {"mode": "train", "reference": {"inference_throughput": {"big": 3}}}),
    ("config", {"mode": ["train"]}),
    ("config", {"mode": "train", "batch_size": "64"}),
    ("config", {"mode": "train", "model": {"table_sizes": "big"}}),
    ("evaluations", [{"auc": {"nested": 1}}]),
    ("step_times_s", "slow"),
])
def test_a_field_of_the_wrong_type_is_reported_and_skipped(tmp_path: Path, field: str, value) -> None:
    good = _write_set(tmp_path / "a", "r1")
    bad = _write_set(tmp_path / "b", "r2")
    case = bad / "cases" / "c.json"
    data = json.loads(case.read_text())
    data[field] = value
    case.write_text(json.dumps(data))
    proc = CliRunner().invoke(make_cli(), ["compare", str(tmp_path), "--format", "json"])
    assert proc.exit_code == 0, proc.output
    assert proc.exception is None or isinstance(proc.exception, SystemExit)
    assert f"{case}: not a dlrmbench result" in proc.output and "skipped" in proc.output
    loaded = load_results([good.parent.parent])
    assert loaded.sets[0].results[0].value("train_throughput") == 100.0


def test_a_copied_result_set_is_counted_once(tmp_path: Path) -> None:
    original = _write_set(tmp_path / "one")
    shutil.copytree(tmp_path / "one", tmp_path / "two")
    loaded = load_results([tmp_path])
    assert len(loaded.sets) == 1 and loaded.sets[0].path == original
    assert loaded.problems == [f"{tmp_path / 'two' / 's' / 'r1'}: a copy of {original} (same suite/run id and "
                               "content); counted once, skipped"]


def test_different_sets_with_one_run_id_are_kept_apart_not_pooled(tmp_path: Path) -> None:
    from dlrmbench.results.compare import compare

    _write_set(tmp_path / "one", throughput=100.0)
    _write_set(tmp_path / "two", throughput=300.0)
    loaded = load_results([tmp_path])
    assert len(loaded.sets) == 2 and len({s.label for s in loaded.sets}) == 2
    assert "2 different result sets carry the same suite/run id s/r1" in loaded.problems[0]
    comparison = compare(loaded.sets)
    row = next(r for r in comparison.rows if r.metric == "train_throughput")
    assert sorted(c.value for c in row.cells.values()) == [100.0, 300.0]
    assert all(c.repeats == 1 for c in row.cells.values())


def test_fifos_and_devices_named_json_are_skipped_not_read(tmp_path: Path) -> None:
    run_dir = _write_set(tmp_path)
    os.mkfifo(run_dir / "cases" / "fifo.json")
    (run_dir / "cases" / "zero.json").symlink_to("/dev/zero")
    loaded = load_results([tmp_path])  # would block (FIFO) or never end (/dev/zero) if read
    assert len(loaded.sets[0].results) == 1
    assert sorted(loaded.problems) == [f"{run_dir / 'cases' / 'fifo.json'}: not a dlrmbench result: not a regular "
                                       "file; skipped",
                                       f"{run_dir / 'cases' / 'zero.json'}: not a dlrmbench result: not a regular "
                                       "file; skipped"]
