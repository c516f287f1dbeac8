"""`compare` says when two results of a case read other data: the fingerprints the readers took of every file
(``environment.data``) differ in size or sampled digest. A copy that did not keep its times is the same data."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from dlrmbench.config.schema import Case
from dlrmbench.data.watch import FileWatch, data_record
from dlrmbench.results.compare import compare
from dlrmbench.results.load import load_results
from dlrmbench.results.schema import CaseEntry, CaseResult, RunManifest, metric
from dlrmbench.results.store import atomic_write_json
from dlrmbench.runner.collect import collect
from dlrmbench.runner.isolate import WorkerOutcome


def _data(root: Path, names: list[str]) -> dict:
    return data_record(root, [FileWatch(root / n for n in names)])


def _days(root: Path, seed: int) -> Path:
    from tests.dlrmv2.mlperf_files import write_day

    for day in range(2):
        write_day(root, day, rows=40, seed=day + seed)
    return root


NAMES = ["day_0_labels.npy", "day_0_dense.npy", "day_1_sparse.npy"]


def _run(root: Path, run_id: str, data: dict, values: list[float]) -> Path:
    run_dir = root / "s" / run_id
    manifest = RunManifest(suite="s", suite_file="s.yaml", suite_sha256="0" * 64, run_id=run_id,
                           dlrmbench_version="0", command=[], started_at="2026-01-01T00:00:00+00:00",
                           status="complete")
    for repeat, value in enumerate(values):
        result = CaseResult(suite="s", run_id=run_id, case="a", repeat=repeat, status="ok",
                            config={"mode": "train", "batch_size": 8, "comparable": True},
                            metrics={"train_throughput": metric(value, "samples/s", True)},
                            environment={"data": data})
        atomic_write_json(run_dir / "cases" / f"a.r{repeat}.json", result)
        manifest.cases.append(CaseEntry(case="a", repeat=repeat, status="ok", file=f"cases/a.r{repeat}.json"))
    atomic_write_json(run_dir / "run.json", manifest)
    return run_dir


def _notes(tmp_path: Path, base_data: dict, new_data: dict) -> list[str]:
    base = _run(tmp_path / "results", "base", base_data, [100, 101, 99])
    new = _run(tmp_path / "results", "new", new_data, [100, 100, 101])
    loaded = load_results([base, new])
    base_set = next(s for s in loaded.sets if s.path == base)
    return compare([s for s in loaded.sets if s.path != base], baseline=base_set).data


def test_results_on_other_data_are_flagged_naming_the_files(tmp_path: Path) -> None:
    first = _days(tmp_path / "a", seed=0)
    other = _days(tmp_path / "b", seed=0)
    np_rewrite = other / "day_0_dense.npy"
    data = bytearray(np_rewrite.read_bytes())
    data[-1] ^= 0xFF  # one byte of the last value: same size, other content
    np_rewrite.write_bytes(bytes(data))
    os.truncate(other / "day_1_sparse.npy", (other / "day_1_sparse.npy").stat().st_size - 104)
    notes = _notes(tmp_path, _data(first, NAMES), _data(other, NAMES))
    assert len(notes) == 1, notes
    assert notes[0].startswith("s/a in s/new: read other data than the baseline: ")
    assert "day_0_dense.npy same size, other content (digest " in notes[0]
    assert "day_1_sparse.npy 4,184 vs 4,288 bytes" in notes[0]
    assert "day_0_labels.npy" not in notes[0]


def test_the_html_report_shows_the_note(tmp_path: Path) -> None:
    from dlrmbench.report.html import render

    base = _run(tmp_path / "results", "base", _data(_days(tmp_path / "a", seed=0), NAMES), [100])
    new = _run(tmp_path / "results", "new", _data(_days(tmp_path / "b", seed=5), NAMES), [100])
    loaded = load_results([base, new])
    html, _ = render(loaded.sets, next(s for s in loaded.sets if s.path == base))
    assert "s/a in s/new: read other data than the baseline: day_0_dense.npy same size, other content" in html


def test_a_copy_without_times_is_the_same_data(tmp_path: Path) -> None:
    first = _days(tmp_path / "a", seed=0)
    copy = Path(shutil.copytree(first, tmp_path / "copy", copy_function=shutil.copyfile))  # new times
    for name in NAMES:
        os.utime(copy / name, ns=(1, 1))
    assert _notes(tmp_path, _data(first, NAMES), _data(copy, NAMES)) == []


def test_compare_prints_the_note_in_every_format(tmp_path: Path) -> None:
    first = _days(tmp_path / "a", seed=0)
    other = _days(tmp_path / "b", seed=5)
    _run(tmp_path / "results", "base", _data(first, NAMES), [100])
    _run(tmp_path / "results", "new", _data(other, NAMES), [100])
    base = str(tmp_path / "results" / "s" / "base")
    from click.testing import CliRunner

    from dlrmbench.cli import make_cli

    table = CliRunner().invoke(make_cli(), ["compare", str(tmp_path / "results"), "--baseline", base])
    assert table.exit_code == 0, table.output
    assert "data: s/a in s/new: read other data than the baseline: day_0_dense.npy same size, other content" \
        in " ".join(table.output.split())
    as_csv = CliRunner().invoke(make_cli(), ["compare", str(tmp_path / "results"), "--baseline", base,
                                             "--format", "csv"])
    assert "Warning: s/a in s/new: read other data than the baseline: day_0_dense.npy" in as_csv.stderr


def test_the_result_keeps_what_the_worker_recorded(tmp_path: Path) -> None:
    first = _days(tmp_path / "a", seed=0)
    data = _data(first, NAMES)
    outcome = WorkerOutcome(returncode=0)
    outcome.events += [{"event": "built", "torch_version": "x", "data": data},
                       {"event": "result", "metrics": {"train_throughput": metric(1.0, "samples/s", True).model_dump()}}]
    case = Case.model_validate({"name": "a", "device": "cpu", "batch_size": 8})
    result = collect(case, outcome, {"suite": "s", "run_id": "r", "case": "a", "repeat": 0})
    assert result.environment["data"] == data
    assert data["files"]["day_0_dense.npy"]["bytes"] == (first / "day_0_dense.npy").stat().st_size
