"""``dlrmbench dataset inspect`` and a suite run over real files (good and bad)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from click.testing import CliRunner
from tests.datasets.dataset_factories import SIZES

from dlrmbench.cli import make_cli


def inspect(*args: str):
    return CliRunner().invoke(make_cli(), ["dataset", "inspect", *args])


def test_inspect_reports_format_samples_dtypes_and_label_rate(split_dataset) -> None:
    root, data = split_dataset
    result = inspect(str(root), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["format"] == "split" and report["ok"] and report["table_sizes"] == SIZES
    train = report["splits"]["train"]
    assert train["samples"] == 1000 and report["splits"]["test"]["samples"] == 300
    assert train["label_rate"] == data["train"][0].mean()
    assert [f["dtype"] for f in train["features"][:6]] == ["int8", "int8", "int16", "int16", "int32", "int32"]
    assert train["features"][5] == {"feature": 5, "key": "_c19", "dtype": "int32", "table_size": 100_000,
                                    "min_id": int(data["train"][2][:, 5].min()), "max_id": 99_999}
    assert {f["name"]: f["bytes"] for f in train["files"]}["cat_3.bin"] == 2000
    text = inspect(str(root))
    assert text.exit_code == 0 and "split dataset" in text.output and "every file agrees" in text.output
    assert "1,000 samples" in text.output


def test_inspect_binary_without_model_size_reports_the_seen_cardinality(binary_dataset) -> None:
    root, data = binary_dataset
    (root / "model_size.json").unlink()
    report = json.loads(inspect(str(root), "--json").output)
    assert report["format"] == "binary" and report["table_sizes"] is None
    assert report["splits"]["test"]["features"][1]["cardinality_seen"] == 126


def test_inspect_lists_every_problem_and_exits_1(split_dataset) -> None:
    root, _ = split_dataset
    os.truncate(root / "test" / "cat_0.bin", 10)
    ids = np.fromfile(root / "train" / "cat_24.bin", dtype=np.int8)
    ids[9] = 10
    ids.tofile(root / "train" / "cat_24.bin")
    result = inspect(str(root))
    assert result.exit_code == 1
    assert "cat_0.bin holds 10 samples" in result.output
    assert "feature 24 (_c38) sample 9" in result.output


def test_inspect_of_a_missing_path_is_a_clean_error(tmp_path: Path) -> None:
    result = inspect(str(tmp_path / "nope"))
    assert result.exit_code == 2 and "Error:" in result.output and "Traceback" not in result.output


SUITE = """
name: files
defaults:
  device: cpu
  batch_size: 256
  max_steps: 3
  timeout_s: 120
  model: {{bottom_mlp: [8, 4], top_mlp: [8, 1], embedding_dim: 4}}
  optimizer: {{lr: 0.1, warmup_steps: 0, decay_start_step: 0, decay_steps: 0}}
cases:
  - name: good
    dataset: {{name: split, options: {{path: "{good}", shuffle_batch_order: true}}}}
  - name: bad-ids
    dataset: {{name: memmap, options: {{path: "{bad}"}}}}
"""


def test_suite_run_trains_on_files_and_reports_a_bad_file_without_traceback(tmp_path: Path, split_dataset) -> None:
    import shutil

    root, _ = split_dataset
    bad = tmp_path / "bad"
    shutil.copytree(root, bad)
    ids = np.fromfile(bad / "test" / "cat_2.bin", dtype=np.int16)
    ids[5] = 200
    ids.tofile(bad / "test" / "cat_2.bin")
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE.format(good=root, bad=bad))
    run = subprocess.run([sys.executable, "-m", "dlrmbench", "run", str(suite), "-o", str(tmp_path / "out"), "--quiet"],
                         capture_output=True, text=True, timeout=240)
    output = run.stdout + run.stderr
    assert run.returncode == 1, output
    assert "Traceback" not in output
    results = {p.stem.split(".")[0]: json.loads(p.read_text()) for p in (tmp_path / "out").rglob("cases/*.json")}
    assert results["good"]["status"] == "ok", results["good"]["reason"]
    from preproc.fingerprint import record  # the worker recorded what it read, as it was when opened

    data = results["good"]["environment"]["data"]
    assert data["path"] == str(root) and len(data["files"]) == 2 * (2 + len(SIZES))  # train and test splits
    assert data["files"]["test/cat_2.bin"] == record(root / "test" / "cat_2.bin")
    assert results["bad-ids"]["status"] == "failed"
    assert results["bad-ids"]["reason"].startswith("bad input: ") and "feature 2 (_c16) sample 5" in results["bad-ids"]["reason"]
    assert "id 200 is at or above its table size 127" in results["bad-ids"]["reason"]


def test_suite_with_a_missing_dataset_is_refused_before_running(tmp_path: Path, split_dataset) -> None:
    root, _ = split_dataset
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE.format(good=root, bad=tmp_path / "missing"))
    result = CliRunner().invoke(make_cli(), ["run", str(suite), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "Error: case bad-ids: dataset memmap:" in result.output and "missing: no such directory" in result.output
    assert not (tmp_path / "out").exists()
