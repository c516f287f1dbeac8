"""`dlrmbench results export --format parquet|duckdb`: a tidy table of every result set, which compare and
report read back exactly like the folders it came from."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dlrmbench.results.schema import CaseEntry, CaseResult, RunManifest, metric
from dlrmbench.results.store import atomic_write_json
from tests.conftest import run_cli

pytest.importorskip("duckdb")
pytest.importorskip("pyarrow")


def make_set(root: Path, run_id: str, throughputs: dict[str, list[float]], gpu: str) -> Path:
    """A result set whose cases carry metrics, step times, evaluations, inference rows and an environment."""
    run_dir = root / "s" / run_id
    manifest = RunManifest(suite="s", suite_file="s.yaml", suite_sha256="0" * 64, run_id=run_id,
                           dlrmbench_version="0", command=["dlrmbench", "run"], started_at="2026-01-01T00:00:00+00:00",
                           status="complete", environment={"gpu": gpu, "torch": "2.13.0"})
    for case, values in throughputs.items():
        for repeat, value in enumerate(values):
            result = CaseResult(
                suite="s", run_id=run_id, case=case, repeat=repeat, status="ok",
                config={"mode": "train", "batch_size": 1024, "model": {"embedding_dim": 16}},
                metrics={"train_throughput": metric(value, "samples/s", True), "auc": metric(0.79, "", True)},
                step_times_s=[0.01 * (k + 1) + repeat for k in range(5)],
                evaluations=[{"step": 10, "auc": 0.7, "log_loss": 0.5, "samples": 100}],
                inference=[{"batch_size": 64, "p50_ms": 1.5}],
                environment={"gpu": gpu, "packages": {"torch": "2.13.0"}},
            )
            name = f"{case}.r{repeat}.json"
            atomic_write_json(run_dir / "cases" / name, result)
            manifest.cases.append(CaseEntry(case=case, repeat=repeat, status="ok", file=f"cases/{name}"))
    atomic_write_json(run_dir / "run.json", manifest)
    return run_dir


@pytest.fixture
def two_sets(tmp_path: Path) -> Path:
    root = tmp_path / "results"
    make_set(root, "r1", {"a": [100.0, 104.0, 98.0], "b": [50.0, 51.0]}, gpu="A100")
    make_set(root, "r2", {"a": [80.0, 81.0, 79.0], "b": [55.0, 56.0]}, gpu="H100")
    return root


def export(*args: str) -> str:
    result = run_cli("results", "export", *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("fmt", ["parquet", "duckdb"])
def test_compare_reads_an_export_exactly_like_the_folders(two_sets, tmp_path, fmt):
    table = tmp_path / f"history.{fmt}"
    out = export(str(two_sets), "--format", fmt, "-o", str(table))
    assert "Exported 2 result set(s), 10 case result(s)" in out
    for fmt_out in ("json", "csv"):
        from_dirs = run_cli("compare", str(two_sets), "--baseline", str(two_sets / "s" / "r1"), "--format", fmt_out)
        from_file = run_cli("compare", str(table), "--baseline", str(two_sets / "s" / "r1"), "--format", fmt_out)
        assert from_dirs.returncode == from_file.returncode == 0, from_file.stderr
        assert from_file.stdout == from_dirs.stdout
    # an export of the export is the same table again
    again = tmp_path / f"again.{fmt}"
    export(str(table), "--format", fmt, "-o", str(again))
    assert rows(again) == rows(table)


def test_report_reads_an_export(two_sets, tmp_path):
    pytest.importorskip("matplotlib")
    table = tmp_path / "history.parquet"
    export(str(two_sets), "--format", "parquet", "-o", str(table))
    result = run_cli("report", str(table), "--html", str(tmp_path / "r.html"))
    assert result.returncode == 0, result.stderr
    html = (tmp_path / "r.html").read_text()
    assert "s/r1" in html and "s/r2" in html


def rows(path: Path) -> list[tuple]:
    import duckdb

    con = duckdb.connect()
    try:
        source = f"read_parquet('{path}')" if path.suffix == ".parquet" else None
        if source is None:
            con.execute(f"ATTACH '{path}' AS db (READ_ONLY)")
            source = "db.results"
        return con.execute(f"SELECT * FROM {source} ORDER BY ALL").fetchall()
    finally:
        con.close()


def test_the_table_is_tidy_and_queryable(two_sets, tmp_path):
    import duckdb

    db = tmp_path / "history.duckdb"
    export(str(two_sets), "--format", "duckdb", "-o", str(db))
    con = duckdb.connect(str(db), read_only=True)
    got = con.execute("SELECT run_id, \"case\", repeat, value, unit, higher_is_better FROM results "
                      "WHERE kind = 'metric' AND name = 'train_throughput' ORDER BY run_id, \"case\", repeat").fetchall()
    assert got[:3] == [("r1", "a", 0, 100.0, "samples/s", True), ("r1", "a", 1, 104.0, "samples/s", True),
                       ("r1", "a", 2, 98.0, "samples/s", True)]
    assert len(got) == 10
    steps = con.execute("SELECT idx, value FROM results WHERE kind = 'step_time' AND run_id = 'r2' AND \"case\" = 'b' "
                        "AND repeat = 1 ORDER BY idx").fetchall()
    assert steps == [(k, pytest.approx(0.01 * (k + 1) + 1)) for k in range(5)]
    env = dict(con.execute("SELECT run_id, text FROM results WHERE kind = 'environment' AND name = 'gpu' "
                           "AND \"case\" = 'a' AND repeat = 0").fetchall())
    assert env == {"r1": "A100", "r2": "H100"}
    assert con.execute("SELECT text FROM results WHERE kind = 'environment' AND name = 'packages.torch' "
                       "LIMIT 1").fetchone() == ("2.13.0",)
    assert con.execute("SELECT value FROM results WHERE kind = 'config' AND name = 'model.embedding_dim' "
                       "LIMIT 1").fetchone() == (16.0,)
    assert con.execute("SELECT value FROM results WHERE kind = 'evaluation' AND name = 'auc' LIMIT 1").fetchone() == (0.7,)
    con.close()


def test_duckdb_keeps_history_and_replaces_a_reexported_set(two_sets, tmp_path):
    import duckdb

    db = tmp_path / "history.duckdb"
    export(str(two_sets / "s" / "r1"), "--format", "duckdb", "-o", str(db))
    export(str(two_sets / "s" / "r2"), "--format", "duckdb", "-o", str(db))
    export(str(two_sets / "s" / "r1"), "--format", "duckdb", "-o", str(db))  # again: replaced, not doubled
    con = duckdb.connect(str(db), read_only=True)
    counts = dict(con.execute("SELECT run_id, count(*) FROM results WHERE kind = 'case_json' GROUP BY run_id").fetchall())
    con.close()
    assert counts == {"r1": 5, "r2": 5}


def test_bad_requests_are_refused_cleanly(two_sets, tmp_path):
    result = run_cli("results", "export", str(two_sets), "--format", "parquet", "-o", str(tmp_path / "x.duckdb"))
    assert result.returncode == 2 and "the name says duckdb, --format says parquet" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "x.duckdb").exists()
    (tmp_path / "junk.parquet").write_bytes(b"not parquet at all")
    result = run_cli("compare", str(tmp_path / "junk.parquet"))
    assert result.returncode == 2 and "junk.parquet: not a dlrmbench results table" in result.stderr
    assert "Traceback" not in result.stderr
    result = run_cli("compare", str(tmp_path / "missing.duckdb"))
    assert result.returncode == 2 and "missing.duckdb: no such file" in result.stderr
