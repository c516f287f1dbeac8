"""``dlrmbench export`` and ``serve-bench`` as a user runs them: results, and bad inputs refused with a
clear message, exit 2, and nothing written."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import run_cli
from tests.export.conftest import small_case
from dlrmbench.workload.build import resolve


def _cli(*args: str):
    from dlrmbench.cli import make_cli

    return CliRunner().invoke(make_cli(), list(args), catch_exceptions=False)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A checkpoint of the small model (weights moved away from their initial values)."""
    import torch

    from dlrmbench.workload.build import build_model
    from dlrmbench.workload.checkpoint import save_checkpoint

    case = small_case("joint")
    model = build_model(resolve(case), list(case.model.table_sizes))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01)
    path = tmp_path_factory.mktemp("ck") / "small.pt"
    save_checkpoint(model, path, case, list(case.model.table_sizes))
    return path


@pytest.fixture
def suite_file(tmp_path: Path) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text("""
name: exp
defaults: {device: cpu, embedding: joint, model: {bottom_mlp: [16, 8], top_mlp: [32, 16, 1], embedding_dim: 8,
           table_sizes: [10, 200, 3000, 7, 1]}}
cases:
  - {name: small}
  - {name: other, model: {bottom_mlp: [16, 8], top_mlp: [8, 1], embedding_dim: 8, table_sizes: [4, 4]}}
""")
    return path


def test_export_from_a_checkpoint_end_to_end(checkpoint, tmp_path):
    out = tmp_path / "exported"
    done = run_cli("export", "-o", str(out), "--checkpoint", str(checkpoint), "--check", "--format", "onnx")
    assert done.returncode == 0, done.stderr
    assert "check onnx: max |exported - eager|" in done.stdout and ": pass" in done.stdout
    manifest = json.loads((out / "export.json").read_text())
    assert manifest["source"]["checkpoint"] == str(checkpoint) and manifest["check"]["onnx"]["passed"]
    assert set(manifest["models"]) == {"onnx"} and (out / "triton" / "dlrm" / "1" / "model.onnx").is_file()
    assert _leftovers(tmp_path) == ["exported"]  # no staging folder left beside it


def test_checkpoint_weights_are_the_ones_exported(checkpoint, tmp_path):
    """The export holds the checkpoint's weights, not a freshly initialised model's."""
    import numpy as np
    import torch

    from dlrmbench.export.check import Predictor, random_inputs
    from dlrmbench.workload.build import build_model
    from dlrmbench.workload.checkpoint import load_checkpoint

    out = tmp_path / "exported"
    assert _cli("export", "-o", str(out), "--checkpoint", str(checkpoint), "--format", "onnx").exit_code == 0
    manifest = json.loads((out / "export.json").read_text())
    case = small_case("joint")
    trained, fresh = build_model(resolve(case), list(case.model.table_sizes)), build_model(resolve(case), list(case.model.table_sizes))
    load_checkpoint(trained, checkpoint, case, list(case.model.table_sizes))
    numerical, categorical = random_inputs(manifest["model"], 16, 1)
    exported = Predictor(out, manifest["models"]["onnx"], "onnx").predict(numerical, categorical)
    with torch.no_grad():
        want = trained.eval()(torch.from_numpy(numerical), torch.from_numpy(categorical)).numpy().reshape(-1, 1)
        other = fresh.eval()(torch.from_numpy(numerical), torch.from_numpy(categorical)).numpy().reshape(-1, 1)
    assert np.max(np.abs(exported - want)) <= 1e-5 < np.max(np.abs(exported - other))


def test_missing_checkpoint_is_refused(tmp_path):
    result = _cli("export", "-o", str(tmp_path / "out"), "--checkpoint", str(tmp_path / "nope.pt"))
    assert result.exit_code == 2
    assert f"--checkpoint {tmp_path / 'nope.pt'}: no such file" in result.output
    assert _leftovers(tmp_path) == []


def test_a_file_that_is_not_a_checkpoint_is_refused(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x00not a checkpoint")
    result = _cli("export", "-o", str(tmp_path / "out"), "--checkpoint", str(bad))
    assert result.exit_code == 2 and "not a loadable weights-only checkpoint" in result.output
    assert _leftovers(tmp_path) == ["bad.pt"]


def test_a_checkpoint_of_another_shape_is_refused_with_both_shapes(checkpoint, suite_file, tmp_path):
    result = _cli("export", "-o", str(tmp_path / "out"), "--suite", str(suite_file), "--case", "other",
                  "--checkpoint", str(checkpoint))
    assert result.exit_code == 2
    assert "was saved from a different model shape" in result.output and "checkpoint:" in result.output
    assert "this case:" in result.output and not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_unknown_case_and_half_given_source_are_refused(suite_file, tmp_path):
    result = _cli("export", "-o", str(tmp_path / "out"), "--suite", str(suite_file), "--case", "smal")
    assert result.exit_code == 2 and '--case smal: no such case' in result.output and 'did you mean "small"' in result.output
    result = _cli("export", "-o", str(tmp_path / "out"), "--suite", str(suite_file))
    assert result.exit_code == 2 and "give --suite and --case together" in result.output
    result = _cli("export", "-o", str(tmp_path / "out"))
    assert result.exit_code == 2 and "nothing to export" in result.output
    assert not (tmp_path / "out").exists()


def test_existing_output_needs_force_and_is_replaced_only_when_complete(suite_file, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("old")
    result = _cli("export", "-o", str(out), "--suite", str(suite_file), "--case", "small", "--format", "torchscript")
    assert result.exit_code == 2 and "already exists" in result.output and "--force" in result.output
    assert _leftovers(out) == ["keep.txt"]
    result = _cli("export", "-o", str(out), "--suite", str(suite_file), "--case", "small", "--format", "torchscript",
                  "--force")
    assert result.exit_code == 0, result.output
    assert _leftovers(out) == ["export.json", "triton"] and _leftovers(tmp_path) == ["out", "suite.yaml"]


def test_unwritable_output_is_refused_before_anything_is_built(suite_file, tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = _cli("export", "-o", str(blocker / "out"), "--suite", str(suite_file), "--case", "small")
    assert result.exit_code == 2 and "does not exist" in result.output
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == tmp_path else real_access(p, mode))
    result = _cli("export", "-o", str(tmp_path / "out"), "--suite", str(suite_file), "--case", "small")
    assert result.exit_code == 2 and "permission denied" in result.output
    assert _leftovers(tmp_path) == ["a-file", "suite.yaml"]


def test_a_failure_while_writing_leaves_nothing(suite_file, tmp_path, monkeypatch):
    from dlrmbench.export import formats

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(formats, "write_torchscript", broken)
    result = _cli("export", "-o", str(tmp_path / "out"), "--suite", str(suite_file), "--case", "small",
                  "--format", "onnx", "--format", "torchscript")
    assert result.exit_code == 1 and "No space left on device" in result.output
    assert "nothing was written" in result.output and "Traceback" not in result.output
    assert _leftovers(tmp_path) == ["suite.yaml"]


def test_bad_triton_options_are_refused(suite_file, tmp_path):
    result = _cli("export", "-o", str(tmp_path / "out"), "--suite", str(suite_file), "--case", "small",
                  "--model-name", "../x")
    assert result.exit_code == 2 and "not a safe --model-name" in result.output
    result = _cli("export", "-o", str(tmp_path / "out"), "--suite", str(suite_file), "--case", "small",
                  "--max-batch-size", "64", "--preferred-batch-size", "128")
    assert result.exit_code == 2 and "above --max-batch-size 64" in result.output
    assert _leftovers(tmp_path) == ["suite.yaml"]


def test_large_weights_go_to_an_external_data_file_that_still_checks(suite_file, tmp_path, monkeypatch):
    """Above ONNX_EXTERNAL_DATA_BYTES (1 GiB) the weights leave the protobuf; lowered here to 0."""
    from dlrmbench.export import formats

    monkeypatch.setattr(formats, "ONNX_EXTERNAL_DATA_BYTES", 0)
    out = tmp_path / "out"
    result = _cli("export", "-o", str(out), "--suite", str(suite_file), "--case", "small", "--format", "onnx",
                  "--check")
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "export.json").read_text())
    part = manifest["models"]["onnx"]["parts"]["model"]
    assert part["side_files"] == ["model.onnx.data"] and manifest["check"]["onnx"]["passed"]
    assert (out / "triton" / "dlrm" / "1" / "model.onnx.data").stat().st_size >= 3218 * 8 * 4
