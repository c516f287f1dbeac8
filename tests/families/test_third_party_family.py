"""The core is open to model families: a two-tower retrieval model, installed from its own package
(tests/fixtures/twotower) as a user installs a plugin, runs end to end through ``dlrmbench run`` (one
process and two data-parallel ranks), ``plan``, ``compare`` and ``report``, and nothing under
``dlrmbench/`` names it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, cli_env, run_cli

SUITE = """
name: twotower
defaults:
  device: cpu
  batch_size: 128
  test_batch_size: 256
  max_steps: 40
  benchmark_warmup_steps: 2
  progress_every: 10
  timeout_s: 240
  model: {family: two_tower, embedding_dim: 16, tower: [32, 16], recall_k: 10}
  dataset:
    name: two_tower_synthetic
    options: {users: 256, items: 128, clusters: 8, train_samples: 5120, test_samples: 1024, seed: 1}
  optimizer: {lr: 0.05, warmup_steps: 0, decay_start_step: null, decay_steps: 0}
cases:
  - name: one
    checkpoint: {save: "{case}.ckpt"}
  - name: reload
    mode: test
    checkpoint: {load: one.ckpt}
  - name: two
    processes: 2
"""


@pytest.fixture(scope="module")
def runs(family_site: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    work = tmp_path_factory.mktemp("twotower-run")
    suite = work / "twotower.yaml"
    suite.write_text(SUITE)
    env = cli_env(family_site, COLUMNS="200")
    done = subprocess.run([sys.executable, "-m", "dlrmbench", "run", str(suite), "--output", str(work / "results")],
                          cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return work, suite, env


def _results(work: Path) -> dict[str, dict]:
    files = [p for p in (work / "results").rglob("*.json") if p.name not in ("run.json", "manifest.json")]
    out = {}
    for path in files:
        data = json.loads(path.read_text())
        if isinstance(data, dict) and data.get("case"):
            out[data["case"]] = data
    return out


def test_list_plugins_shows_the_family_kind_with_both_families(family_site: Path) -> None:
    done = run_cli("list-plugins", env=cli_env(family_site, COLUMNS="200"))
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if "family" in line]
    assert any("dlrm" in line for line in lines) and any("two_tower" in line for line in lines), done.stdout
    done = run_cli("list-plugins", "--json", env=cli_env(family_site))
    plugins = json.loads(done.stdout)["plugins"]
    families = {p["name"]: p for p in plugins if p["kind"] == "family"}
    assert set(families) >= {"dlrm", "two_tower"} and families["two_tower"]["available"]
    served = {p["name"]: p["families"] for p in plugins if p["kind"] == "dataset"}
    assert served["two_tower_synthetic"] == ["two_tower"] and served["synthetic"] == ["dlrm"]


def test_the_family_trains_in_one_process_and_on_two_ranks(runs: tuple[Path, Path, dict[str, str]]) -> None:
    work, _, _ = runs
    results = _results(work)
    assert set(results) >= {"one", "two", "reload"}, sorted(results)
    for name in ("one", "two"):
        result = results[name]
        assert result["status"] == "ok", result.get("error")
        metrics = result["metrics"]
        # the family's metrics travel with their unit and direction; 16 true items of 256 would be random
        assert metrics["recall_at_k"]["higher_is_better"] is True
        assert metrics["recall_at_k"]["value"] > 3 * 10 / 256, metrics["recall_at_k"]
        assert 0 < metrics["mrr"]["value"] <= 1 and "best_recall_at_k" in metrics
        assert metrics["train_flops"]["unit"] == "FLOP/s" and metrics["train_flops"]["value"] > 0
        assert result["config"]["model"]["family"] == "two_tower"
    assert results["two"]["telemetry"]["world_size"] == 2
    assert results["two"]["telemetry"]["topology"] == "data_parallel"
    # the saved model, evaluated again by mode test, scores what it scored at the end of its training
    reloaded = results["reload"]
    assert reloaded["status"] == "ok", reloaded.get("error")
    assert reloaded["metrics"]["recall_at_k"]["value"] == results["one"]["metrics"]["recall_at_k"]["value"]


def test_plan_shows_the_family_memory_terms(runs: tuple[Path, Path, dict[str, str]]) -> None:
    _, suite, env = runs
    done = run_cli("plan", str(suite), env=env)
    assert done.returncode == 0, done.stderr
    assert "tables" in done.stdout and "towers" in done.stdout and "activations" in done.stdout


def test_compare_and_report_read_the_family_metrics(runs: tuple[Path, Path, dict[str, str]]) -> None:
    work, _, env = runs
    for metric in ("recall_at_k", "mrr", "train_throughput"):
        done = run_cli("compare", str(work / "results"), "--metric", metric, "--format", "json", env=env)
        assert done.returncode == 0, done.stderr
        assert f'"{metric}"' in done.stdout
    report = work / "report.html"
    done = run_cli("report", str(work / "results"), "--html", str(report), env=env)
    assert done.returncode == 0, done.stderr
    html = report.read_text()
    assert "twotower/one" in html and "twotower/two" in html


def test_no_file_of_the_core_names_the_fixture_family() -> None:
    for path in (REPO / "dlrmbench").rglob("*.py"):
        text = path.read_text().lower()
        for name in ("two_tower", "twotower", "recall_at_k"):
            assert name not in text, f"{path} names {name}"
