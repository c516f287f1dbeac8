"""Output read in logs: nothing cropped at 60, 80 or 200 columns (piped), names shown literally."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from dlrmbench.report.terminal import print_run
from dlrmbench.results.load import load_results
from dlrmbench.results.metrics import make, metric_key
from dlrmbench.results.schema import CaseEntry, CaseResult, RunManifest
from dlrmbench.results.store import atomic_write_json
from tests.conftest import run_cli

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "results"
NAMES = ["train-multi_table-very-long-case-name-fp32-bs65536-26tables", "odd [/x] markup [bold]name",
         "math $x_1^2$ name", "infer-joint"]


def write_set(root: Path, run_id: str, scale: float) -> Path:
    run_dir = root / "wide" / run_id
    manifest = RunManifest(suite="wide", suite_file="w.yaml", suite_sha256="0" * 64, run_id=run_id,
                           dlrmbench_version="0", command=[], started_at="2026-01-01T00:00:00+00:00",
                           status="complete")
    for i, name in enumerate(NAMES):
        if name.startswith("infer"):
            metrics = [make("inference_throughput", 123456.0 * scale, 64), make("inference_throughput", 2345.0, 1),
                       make("inference_throughput_p50", 130001.0, 64), make("auc", 0.80251234)]
            config = {"mode": "inference", "batch_size": 64}
        else:
            metrics = [make("train_throughput", 1234567.0 * scale + i), make("train_throughput_p50", 1300000.0 + i),
                       make("auc", 0.7512 + i / 1000)]
            config = {"mode": "train", "batch_size": 2048}
        result = CaseResult(suite="wide", run_id=run_id, case=name, status="ok", config=config,
                            metrics={metric_key(m.name, m.batch_size): m for m in metrics},
                            inference=[{"batch_size": 64, "end_to_end": {"throughput": 123456.0 * scale}}]
                            if name.startswith("infer") else [])
        file = f"case{i}.json"
        atomic_write_json(run_dir / "cases" / file, result)
        manifest.cases.append(CaseEntry(case=name, repeat=0, status="ok", file=f"cases/{file}"))
    atomic_write_json(run_dir / "run.json", manifest)
    return run_dir


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("wide")
    return write_set(root, "20260101T000000Z-first-long-run-id", 1.0), write_set(root, "20260102T000000Z-second", 0.9)


EXPECTED = [*NAMES, "1,234,567", "1,234,568", "1,234,569", "1,111,110", "123,456", "111,110", "0.7512", "0.7522",
            "0.8025", "1,300,000", "130,001", "20260101T000000Z-first-long-run-id"]


@pytest.mark.parametrize("columns", ["60", "80", "200"])
def test_compare_never_crops_a_name_or_a_number(sets, columns) -> None:
    out = run_cli("compare", *map(str, sets), "--baseline", str(sets[0]), env={**_env(), "COLUMNS": columns})
    assert out.returncode == 0, out.stderr
    for text in EXPECTED:
        assert text in out.stdout, (columns, text, out.stdout)
    assert "…" not in out.stdout
    assert max((len(line) for line in out.stdout.splitlines() if "─" in line or "━" in line), default=0) <= int(columns)


@pytest.mark.parametrize("width", [60, 80, 200])
def test_the_run_summary_never_crops(sets, width) -> None:
    results = load_results([sets[0]]).sets[0].results
    buffer = io.StringIO()
    print_run(Console(file=buffer, width=width), "wide — 20260101T000000Z-first-long-run-id", results)
    text = buffer.getvalue()
    for expected in [*NAMES, "1,234,567", "1,300,000", "0.7512", "0.7522", "123,456 (p50 130,001) @bs 64"]:
        assert expected in text, (width, expected, text)
    assert "…" not in text


def test_markup_and_mathtext_names_are_literal_in_every_format(sets, tmp_path) -> None:
    for fmt in ("table", "csv", "json", "markdown"):
        out = run_cli("compare", *map(str, sets), "--format", fmt, env={**_env(), "COLUMNS": "200"})
        assert out.returncode == 0, (fmt, out.stderr)
        if fmt == "json":
            cases = {r["case"] for r in json.loads(out.stdout)["rows"]}
            assert {"odd [/x] markup [bold]name", "math $x_1^2$ name"} <= cases
        elif fmt == "markdown":
            assert r"odd \[/x\] markup \[bold\]name" in out.stdout and r"math \$x\_1^2\$ name" in out.stdout
        else:
            assert "odd [/x] markup [bold]name" in out.stdout and "math $x_1^2$ name" in out.stdout


def _env() -> dict[str, str]:
    from tests.conftest import cli_env

    return cli_env()
