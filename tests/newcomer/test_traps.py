"""The traps a newcomer fell into, each refused or explained instead of passing silently."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from dlrmbench.cli import make_cli
from dlrmbench.data.split import write_split_dataset
from tests.conftest import REPO
from tests.datasets.dataset_factories import make_arrays


def _invoke(*args: str, width: int = 200) -> tuple[int, str]:
    result = CliRunner().invoke(make_cli(), list(args), env={"COLUMNS": str(width)})
    return result.exit_code, " ".join(result.output.split())


def test_a_dataset_path_that_matches_no_case_is_an_error_naming_both_table_sizes(tmp_path: Path) -> None:
    sizes = [50, 40, 30]
    write_split_dataset(tmp_path / "mine", sizes, {"train": make_arrays(64, sizes), "test": make_arrays(32, sizes)})
    code, out = _invoke("run", str(REPO / "suites/dgx1.yaml"), "--dry-run", "--dataset-path", str(tmp_path / "mine"))
    assert code == 2, out
    assert f"--dataset-path {tmp_path / 'mine'}: its model_size.json has 3 tables, 120 rows, which matches no case" in out
    assert "26 tables, 32,709,138 rows (train-1gpu-small-fp32, train-1gpu-small-amp)" in out  # FL15
    assert "26 tables, 177,944,291 rows (train-8gpu-large-fp32, train-8gpu-large-amp)" in out  # FL3
    assert "--allow-synthetic" in out
    code, out = _invoke("run", str(REPO / "suites/dgx1.yaml"), "--dry-run", "--allow-synthetic",
                        "--dataset-path", str(tmp_path / "mine"))
    assert code == 0 and out.count("it runs on synthetic data") == 4, out


def test_a_dataset_path_keeps_the_suites_own_reader_options(tmp_path: Path) -> None:
    """``--dataset-path`` replaced a split case's whole dataset block: its batch-order shuffle and seed were
    silently dropped, so five 'shuffles' of suites/criteo-sample-bf16.yaml trained on one order."""
    from dlrmbench.config.loader import load_suite
    from dlrmbench.config.variants import assign_datasets

    sizes = [50, 40, 30]
    write_split_dataset(tmp_path / "mine", sizes, {"train": make_arrays(64, sizes), "test": make_arrays(32, sizes)})
    cases = load_suite(REPO / "suites/criteo-sample-bf16.yaml").cases
    cases, _ = assign_datasets(cases, [tmp_path / "mine"])
    seeds = sorted({(c.dataset.options["shuffle_seed"], c.dataset.options["shuffle_batch_order"],
                     c.dataset.options["prefetch"], c.dataset.options["path"]) for c in cases})
    assert seeds == [(seed, True, 0, str(tmp_path / "mine")) for seed in range(5)]
    synthetic = load_suite(REPO / "suites/quickstart.yaml").cases[0]  # another plugin's options do not carry over
    (moved,), _ = assign_datasets([synthetic.model_copy(update={"model": synthetic.model.model_copy(
        update={"table_sizes": sizes})})], [tmp_path / "mine"])
    assert moved.dataset.name == "split" and dict(moved.dataset.options) == {"path": str(tmp_path / "mine")}


def test_a_missing_dataset_path_names_the_real_preprocess_command(tmp_path: Path) -> None:
    code, out = _invoke("run", "dgx1", "--dry-run", "--dataset-path", str(tmp_path / "nope"))
    assert code == 2 and "the output of 'dlrmbench preprocess'" in out, out


def test_output_help_describes_the_layout_written() -> None:
    code, out = _invoke("run", "--help")
    assert code == 0 and "Directory that receives the result set: OUTPUT/<suite>/<run-id>/" in out


def test_scale_down_says_what_it_scaled_and_marks_cases_it_made_identical() -> None:
    """dgx2's 16- and 8-GPU rows both become one CPU process at batch 512: the same case, twice."""
    code, out = _invoke("run", "dgx2", "--dry-run", "--scale-down", width=80)  # the stacked plan
    assert code == 0, out
    assert ("Note: train-16gpu-large-amp scaled down: 16 x cuda, amp, batch 65,536 -> 1 x cpu, bf16, batch 512, "
            "24 steps") in out
    assert ("Note: train-16gpu-large-fp32, train-8gpu-large-fp32 became the same case when scaled down: their "
            "figures differ only by noise") in out
    assert "- train-8gpu-large-amp: run (scaled down: not comparable) (same as train-16gpu-large-amp)" in out
    assert "train-1gpu-small-amp: run (scaled down: not comparable) train" in out  # not the same as any other


def test_the_same_as_mark_is_kept_in_the_case_config() -> None:
    from dlrmbench.config.loader import load_suite
    from dlrmbench.config.variants import apply_variants
    from dlrmbench.host import Host

    cases, _ = apply_variants(load_suite("dgx2").cases, Host(), scale=True)
    tags = {c.name: c.tags.get("same_as") for c in cases}
    assert tags["train-8gpu-large-fp32"] == "train-16gpu-large-fp32" and tags["train-1gpu-small-fp32"] is None


def test_resume_runs_only_the_cases_a_stopped_run_did_not_finish(tmp_path: Path) -> None:
    import json

    from dlrmbench.results.schema import CaseResult, RunManifest
    from tests.conftest import TINY_DEFAULTS, run_cli

    suite = tmp_path / "tiny.yaml"
    suite.write_text("name: tiny\n" + TINY_DEFAULTS + "cases:\n  - name: first\n  - name: second\n    seed: 3\n")
    out = tmp_path / "results"
    first = run_cli("run", str(suite), "-o", str(out), "--quiet", "--only", "first")
    assert first.returncode == 0, first.stdout + first.stderr
    (run_dir,) = (out / "tiny").iterdir()
    # as Ctrl-C leaves it during 'second': 'first' finished, 'second' recorded as interrupted
    manifest = json.loads((run_dir / "run.json").read_text())
    manifest.update(status="interrupted", reason="interrupted by the user (Ctrl-C)")
    manifest["cases"].append({"case": "second", "repeat": 0, "status": "interrupted", "file": "cases/second.json",
                              "reason": "interrupted by the user (Ctrl-C)"})
    (run_dir / "run.json").write_text(json.dumps(manifest))
    kept = (run_dir / "cases/first.json").read_bytes()

    other = run_cli("run", str(suite), "--resume", str(run_dir), "--scale-down", "--quiet")
    assert other.returncode == 2 and "case first ran with other settings than planned now" in other.stderr

    resumed = run_cli("run", "--resume", str(run_dir), "--quiet")  # SUITE from the manifest
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"Resuming {run_dir}: 1 finished case(s) kept." in " ".join(resumed.stdout.split())
    assert (run_dir / "cases/first.json").read_bytes() == kept  # not run again
    assert CaseResult.model_validate_json((run_dir / "cases/second.json").read_text()).status == "ok"
    after = RunManifest.model_validate_json((run_dir / "run.json").read_text())
    assert after.status == "complete" and [(c.case, c.status) for c in after.cases] == [("first", "ok"), ("second", "ok")]
    assert [p.name for p in (out / "tiny").iterdir()] == [run_dir.name]  # no second result set

    suite.write_text(suite.read_text().replace("seed: 3", "seed: 4"))
    changed = run_cli("run", str(suite), "--resume", str(run_dir), "--quiet")
    assert changed.returncode == 2 and "changed since that run started" in changed.stderr


def test_the_duckdb_export_keeps_the_batch_size_in_a_column(tmp_path: Path) -> None:
    import duckdb

    from dlrmbench.results.metrics import make, metric_key
    from dlrmbench.results.schema import CaseEntry, CaseResult, RunManifest
    from dlrmbench.results.store import atomic_write_json

    run_dir = tmp_path / "results" / "s" / "r1"
    manifest = RunManifest(suite="s", suite_file="s.yaml", suite_sha256="0" * 64, run_id="r1", dlrmbench_version="0",
                           command=["dlrmbench"], started_at="2026-01-01T00:00:00+00:00", status="complete")
    metrics = {metric_key("inference_throughput", bs): make("inference_throughput", 1000.0 * bs, batch_size=bs)
               for bs in (64, 2048)}
    atomic_write_json(run_dir / "cases" / "infer.json", CaseResult(suite="s", run_id="r1", case="infer", repeat=0,
                                                                   status="ok", metrics=metrics, config={}))
    manifest.cases.append(CaseEntry(case="infer", repeat=0, status="ok", file="cases/infer.json"))
    atomic_write_json(run_dir / "run.json", manifest)
    db = tmp_path / "history.duckdb"
    old = duckdb.connect(str(db))  # a database written before the columns existed gains them
    old.execute('CREATE TABLE results (result_set VARCHAR, suite VARCHAR, run_id VARCHAR, "case" VARCHAR, '
                '"repeat" BIGINT, status VARCHAR, kind VARCHAR, name VARCHAR, idx BIGINT, value DOUBLE, text VARCHAR, '
                'unit VARCHAR, higher_is_better BOOLEAN)')
    old.close()
    code, out = _invoke("results", "export", str(tmp_path / "results"), "--format", "duckdb", "-o", str(db))
    assert code == 0, out
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute("SELECT name, batch_size, value FROM results WHERE kind = 'metric' ORDER BY batch_size").fetchall()
    con.close()
    assert rows == [("inference_throughput", 64, 64000.0), ("inference_throughput", 2048, 2048000.0)]


def test_serve_bench_rows_give_microseconds_and_the_request_count() -> None:
    from dlrmbench.export.serve_bench import Cell
    from dlrmbench_plugins.commands.export import HEADER, cell_warnings, format_row

    fast = Cell(batch_size=1, concurrency=2, requests=74, seconds=1.0, latencies_s=[16e-6] * 73 + [950e-6])
    row = format_row(fast)
    assert HEADER.split() == ["batch", "conc", "requests", "samples/s", "p50", "µs", "p90", "µs", "p95", "µs",
                              "p99", "µs"]
    assert row.split()[:5] == ["1", "2", "74", "74", "16"] and len(row) <= 80 and len(HEADER) <= 80
    assert cell_warnings([fast]) == ["batch 1, 2 client(s): p99 from 74 requests (fewer than 100: it is about the "
                                     "slowest request); raise --duration"]
    slow = Cell(batch_size=2048, concurrency=4, requests=5000, seconds=2.0, latencies_s=[0.067] * 5000)
    assert format_row(slow).split()[-1] == "67,000" and cell_warnings([slow]) == []


def _comparison(*names: str, baseline: str | None = None):
    from dlrmbench.results.compare import compare
    from dlrmbench.results.load import load_results

    fixtures = REPO / "tests/fixtures/results"
    sets = load_results([fixtures / n for n in names]).sets
    base = next((s for s in sets if baseline and baseline in str(s.path)), None)
    return compare(sets, baseline=base)


def _labels_inside(fig) -> bool:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    return all(label.get_window_extent(renderer).x0 >= 0 for ax in fig.axes for label in ax.get_yticklabels())


def test_report_charts_keep_their_labels_inside_and_claim_no_missing_reference(tmp_path: Path) -> None:
    import pytest

    pytest.importorskip("matplotlib")
    from dlrmbench.report import charts

    comparison = _comparison("baseline", "candidate", baseline="baseline")
    for row in comparison.rows:  # names as long as users write them
        row.case = row.case + "-with-a-long-descriptive-suffix-for-the-nightly-regression-gate"
    for fig in (charts.baseline_delta_chart(comparison), charts.throughput_chart(comparison)):
        assert fig is not None and _labels_inside(fig)
    titles = [ax.get_title() for ax in charts.throughput_chart(comparison).axes]
    assert titles == ["Training throughput against the published reference"]
    for row in comparison.rows:  # a suite without references
        row.reference = None
    assert [ax.get_title() for ax in charts.throughput_chart(comparison).axes] == ["Training throughput"]
