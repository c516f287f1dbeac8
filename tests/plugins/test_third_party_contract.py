"""A third-party package adds one plugin of four kinds through the documented contract only.

``tests/fixtures/examplekit`` is the README's "Writing a plugin" example: an embedding strategy that
applies its optimizer inside backward (multi-hot), a parametrised interaction, an optimizer with
state, and an on-disk dataset format with a detector. It is pip-installed into a private directory,
as a user would install it; nothing under ``dlrmbench/`` names any of them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dlrmbench.results.schema import CaseResult
from tests.conftest import FIXTURES, REPO, cli_env, run_cli

KIT_NAMES = ("bag_in_backward", "projected_cat", "kit_adagrad", "kit_npz", "examplekit")
TABLES = [40, 30, 20, 10]


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], Path]:
    """The kit installed with pip into a private site, and a multi-hot kit_npz dataset written by it."""
    site = tmp_path_factory.mktemp("examplekit-site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
                    "--target", str(site), str(FIXTURES / "examplekit")], check=True, capture_output=True)
    env = cli_env(site)
    data = tmp_path_factory.mktemp("kit-data") / "clicks"
    subprocess.run([sys.executable, "-c", "import sys; from dlrmbench_examplekit.impl import write_dataset; "
                    f"write_dataset(sys.argv[1], {TABLES}, hotness=3, train=4096, test=1024)", str(data)],
                   env=env, check=True, capture_output=True, text=True)
    return env, data


def _results(out: Path) -> dict[str, CaseResult]:
    return {r.case: r for r in (CaseResult.model_validate_json(p.read_text()) for p in out.rglob("cases/*.json"))}


def test_a_suite_using_all_four_plugins_runs_end_to_end(kit, tmp_path: Path) -> None:
    env, data = kit
    suite = tmp_path / "kit.yaml"
    suite.write_text(f"""
name: kit
defaults:
  device: cpu
  batch_size: 128
  max_steps: 30
  progress_every: 10
  timeout_s: 300
  dataset: {{name: kit_npz, options: {{path: {json.dumps(str(data))}}}}}
  model: {{bottom_mlp: [16, 8], top_mlp: [16, 1], embedding_dim: 8}}
  optimizer: {{lr: 0.5, warmup_steps: 0, decay_steps: 0}}
cases:
  - name: kit-all
    embedding: bag_in_backward
    model: {{bottom_mlp: [16, 8], top_mlp: [16, 1], embedding_dim: 8, interaction: {{name: projected_cat, options: {{width: 12}}}}}}
    optimizer: {{name: kit_adagrad, options: {{eps: 1.0e-6}}, lr: 0.05, warmup_steps: 0, decay_steps: 0}}
  - name: builtin-multi-hot
    embedding: multi_table
  - name: one-hot-only
    embedding: joint_sparse
  - name: multi-hot-hybrid-parallel
    embedding: joint
    processes: 2
""")
    result = run_cli("run", str(suite), "-o", str(tmp_path / "out"), "--quiet", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    results = _results(tmp_path / "out")
    kit_case = results["kit-all"]
    assert kit_case.status == "ok", kit_case.reason
    assert kit_case.config["model"]["interaction"] == {"name": "projected_cat", "options": {"width": 12}}
    assert kit_case.config["optimizer"]["options"] == {"eps": 1e-6}
    assert kit_case.config["auc_comparable"] is False  # declared by the dataset plugin, not guessed from its name
    assert kit_case.metrics["train_steps"].value == 30
    assert kit_case.evaluations[-1]["auc"] > 0.6  # the label is learnable from the first numerical feature
    # the strategy applies its own optimizer: the optimizer plugin's 4 B/parameter are not counted for it
    assert kit_case.metrics["embedding_optimizer_state_bytes"].value == 0
    assert kit_case.metrics["embedding_parameter_bytes"].value == sum(TABLES) * 8 * 4
    multi = results["builtin-multi-hot"]
    assert multi.status == "ok", multi.reason  # three ids per feature, summed by the built-in embedding_bag
    assert multi.evaluations[-1]["auc"] > 0.6
    hybrid = results["multi-hot-hybrid-parallel"]  # pooled multi-hot vectors cross the all-to-all
    assert hybrid.status == "ok", hybrid.reason
    assert {"step_time_mean_rank0", "step_time_mean_rank1"} <= set(hybrid.metrics)  # two ranks trained
    assert hybrid.evaluations[-1]["auc"] > 0.6
    skipped = results["one-hot-only"]
    assert skipped.status == "skipped"
    assert skipped.reason.startswith("embedding joint_sparse: multi-hot is not supported by this strategy")


def test_dataset_inspect_and_dataset_path_recognise_the_format(kit, tmp_path: Path) -> None:
    env, data = kit
    result = run_cli("dataset", "inspect", str(data), "--json", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["format"] == "kit_npz" and report["table_sizes"] == TABLES
    assert report["splits"]["train"]["samples"] == 4096 and report["splits"]["test"]["samples"] == 1024
    suite = tmp_path / "synthetic.yaml"
    suite.write_text(f"""
name: pointed
defaults:
  device: cpu
  batch_size: 256
  max_steps: 4
  dataset: {{name: synthetic, options: {{train_samples: 2048, test_samples: 512}}}}
  model: {{bottom_mlp: [16, 8], top_mlp: [16, 1], embedding_dim: 8, table_sizes: {TABLES}}}
cases:
  - name: train
""")
    result = run_cli("run", str(suite), "-o", str(tmp_path / "out"), "--quiet", "--dataset-path", str(data), env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    case = _results(tmp_path / "out")["train"]
    assert case.status == "ok", case.reason
    assert case.config["dataset"] == {"name": "kit_npz", "options": {"path": str(data)}}


def test_no_core_file_names_the_kit() -> None:
    for path in (REPO / "dlrmbench").rglob("*.py"):
        text = path.read_text()
        named = [n for n in KIT_NAMES if n in text]
        assert not named, f"{path} names {named}: the core must know plugins only through the contract"
