"""The exported files compute what the eager training model computes (fp32, within 1e-5)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dlrmbench.export.check import Predictor, check_export, random_inputs


def _eager(model, numerical: np.ndarray, categorical: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(numerical), torch.from_numpy(categorical)).numpy().reshape(-1, 1)


@pytest.mark.parametrize("which", ["whole_export", "split_export"])
@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_exported_model_matches_eager_at_any_batch_size(request, which, fmt):
    model, out, manifest = request.getfixturevalue(which)
    predictor = Predictor(out, manifest["models"][fmt], fmt)
    for batch, seed in ((1, 11), (33, 12), (1024, 13)):  # none of them the batch size traced with
        numerical, categorical = random_inputs(manifest["model"], batch, seed)
        exported, eager = predictor.predict(numerical, categorical), _eager(model, numerical, categorical)
        assert exported.shape == (batch, 1) and exported.dtype == np.float32
        assert np.max(np.abs(exported - eager)) <= 1e-5 * max(1.0, float(np.max(np.abs(eager))))


def test_split_export_really_is_split_and_hashes_ids(split_export):
    model, out, manifest = split_export
    assert manifest["split"] is True and set(manifest["models"]["onnx"]["parts"]) == {"sparse", "dense"}
    numerical, categorical = random_inputs(manifest["model"], 64, 5)
    assert (categorical >= np.asarray(manifest["model"]["table_sizes"])).any()  # ids beyond the tables...
    predictor = Predictor(out, manifest["models"]["onnx"], "onnx")
    eager = _eager(model, numerical, categorical)  # ...are folded into range by both, identically
    assert np.max(np.abs(predictor.predict(numerical, categorical) - eager)) <= 1e-5


def test_export_records_a_passing_check(whole_export):
    _, _, manifest = whole_export
    for fmt in ("onnx", "torchscript"):
        check = manifest["check"][fmt]
        assert check["passed"] and check["max_abs_diff"] <= check["tolerance"] == 1e-5 and check["samples"] > 0


def test_check_finds_a_model_that_differs(whole_export):
    """The check can fail: the same files against a model whose output bias moved by 1e-3."""
    model, out, manifest = whole_export
    import copy

    changed = copy.deepcopy(model)
    with torch.no_grad():
        changed.out.bias += 1e-3
    report = check_export(changed, out, manifest)
    assert not report["onnx"]["passed"] and not report["torchscript"]["passed"]
    assert report["onnx"]["max_abs_diff"] == pytest.approx(1e-3, rel=1e-3)


def test_onnx_graph_has_a_dynamic_batch_and_named_tensors(whole_export):
    import onnx

    _, out, manifest = whole_export
    graph = onnx.load(str(out / manifest["models"]["onnx"]["parts"]["model"]["file"])).graph
    shapes = {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in list(graph.input) + list(graph.output)}
    assert shapes == {"numerical": ["batch", 13], "categorical": ["batch", 5], "logit": ["batch", 1]}


def test_split_auto_follows_the_table_bytes(whole_export):
    from pathlib import Path

    from dlrmbench.export.exporter import ExportSettings, decide_split
    from dlrmbench.export.serving_model import serving_parts

    model, _, manifest = whole_export
    parts = serving_parts(model)
    assert parts.table_bytes == sum(manifest["model"]["table_sizes"]) * 8 * 4 == manifest["model"]["table_bytes"]
    assert manifest["split_reason"] == "--split never"
    split, reason = decide_split(parts, ExportSettings(output=Path("x")))  # auto, 2 GiB
    assert not split and "within --split-above 2,147,483,648" in reason
    split, reason = decide_split(parts, ExportSettings(output=Path("x"), split_above_bytes=parts.table_bytes - 1))
    assert split and f"{parts.table_bytes:,} bytes, above" in reason
    assert not decide_split(parts, ExportSettings(output=Path("x"), split_above_bytes=parts.table_bytes))[0]
