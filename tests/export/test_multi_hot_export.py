"""DLRMv2-shaped models (dcnv2 interaction, multi-hot ids) export and serve: the ``categorical`` input is
``(B, sum(hotness))``, each feature's ids in turn, and the exports match the eager model within 1e-5."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from dlrmbench.workload.build import resolve

#: MLPerf DLRMv2's ids per feature (suites/mlperf-dlrmv2.yaml), over small tables.
DLRMV2_HOTNESS = [3, 2, 1, 2, 6, 1, 1, 1, 1, 7, 3, 8, 1, 6, 9, 5, 1, 1, 1, 12, 100, 27, 10, 3, 1, 1]


def dlrmv2_case(embedding: str = "joint", hash_indices: bool = False) -> Any:
    from dlrmbench.config.schema import Case

    sizes = [50 + 13 * f for f in range(26)]
    return Case.model_validate({
        "name": "dlrmv2-small", "device": "cpu", "embedding": embedding, "seed": 9,
        "dataset": {"name": "synthetic", "options": {"train_samples": 64, "test_samples": 64,
                                                     "multi_hot_sizes": DLRMV2_HOTNESS}},
        "model": {"bottom_mlp": [16, 8], "top_mlp": [16, 8, 1], "embedding_dim": 8, "table_sizes": sizes,
                  "hash_indices": hash_indices,
                  "interaction": {"name": "dcnv2", "options": {"layers": 2, "low_rank": 4}}}})


@pytest.fixture(scope="module")
def dlrmv2_exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Any, Path, dict[str, Any]]]:
    """One graph (joint tables) and split (multi_table, hashed ids), both formats, checked."""
    from dlrmbench.export.exporter import ExportSettings, export
    from dlrmbench.export.source import build_export_model

    root = tmp_path_factory.mktemp("dlrmv2-export")
    out = {}
    for name, case, split in (("whole", dlrmv2_case("joint"), "never"),
                              ("split", dlrmv2_case("multi_table", hash_indices=True), "always")):
        model, source = build_export_model(case, None)
        manifest = export(model, source, ExportSettings(output=root / name, split=split, check=True))  # type: ignore[arg-type]
        out[name] = (model, root / name, manifest)
    return out


@pytest.mark.parametrize("name", ["whole", "split"])
def test_multi_hot_exports_pass_the_check_within_1e5(dlrmv2_exports, name):
    _, _, manifest = dlrmv2_exports[name]
    assert manifest["model"]["hotness"] == DLRMV2_HOTNESS and manifest["split"] is (name == "split")
    assert manifest["model"]["categorical_columns"] == sum(DLRMV2_HOTNESS) == 214
    for fmt in ("onnx", "torchscript"):
        check = manifest["check"][fmt]
        assert check["passed"] and check["max_abs_diff"] <= check["tolerance"]
        assert check["tolerance"] <= 1e-5 * 100  # 1e-5 x max(1, max |eager|): the logits here are small


@pytest.mark.parametrize("name", ["whole", "split"])
def test_the_layout_is_each_features_ids_in_turn_pooled_by_sum(dlrmv2_exports, name):
    """An independent reference: the eager model fed SparseFeatures built by hand from the columns, and a
    per-feature sum of table rows computed here, agree with both exported formats."""
    from dlrmbench.batch import SparseFeatures
    from dlrmbench.export.check import Predictor, random_inputs
    from dlrmbench.export.serving_model import table_weights

    model, root, manifest = dlrmv2_exports[name]
    numerical, categorical = random_inputs(manifest["model"], 5, seed=123)
    assert categorical.shape == (5, 214)
    per_feature, start = [], 0
    for h in DLRMV2_HOTNESS:
        per_feature.append(torch.from_numpy(categorical[:, start:start + h]))
        start += h
    with torch.no_grad():
        expected = model(torch.from_numpy(numerical), SparseFeatures.from_fixed(per_feature)).reshape(-1, 1).numpy()
    for fmt in ("onnx", "torchscript"):
        got = Predictor(root, manifest["models"][fmt], fmt).predict(numerical, categorical)
        assert got.shape == (5, 1) and np.max(np.abs(got - expected)) <= 1e-5 * max(1.0, np.max(np.abs(expected)))
    if name == "split":  # the sparse model's output: sum of each feature's rows, ids folded (hash_indices)
        sizes = manifest["model"]["table_sizes"]
        tables = table_weights(model.embeddings, sizes)
        embedded = Predictor(root, manifest["models"]["onnx"], "onnx")._run("sparse", categorical)
        assert embedded.shape == (5, 26, 8)
        for f, ids in enumerate(per_feature):
            for b in range(5):
                want = sum(tables[f][int(i) % sizes[f]] for i in ids[b]).numpy()
                assert np.allclose(embedded[b, f], want, atol=1e-6)


@pytest.mark.parametrize("name", ["whole", "split"])
def test_triton_config_names_exactly_the_exported_inputs_with_the_multi_hot_width(dlrmv2_exports, name):
    import onnx

    _, root, manifest = dlrmv2_exports[name]
    entry = manifest["models"]["onnx"]
    config = (root / "triton" / entry["model"] / "config.pbtxt").read_text()
    assert 'name: "categorical" data_type: TYPE_INT64 dims: [ 214 ]' in config
    assert 'name: "numerical" data_type: TYPE_FP32 dims: [ 13 ]' in config
    part = entry["parts"]["model" if name == "whole" else "sparse"]
    graph = onnx.load(str(root / part["file"]), load_external_data=False).graph
    graph_inputs = {i.name: [d.dim_value or d.dim_param for d in i.type.tensor_type.shape.dim] for i in graph.input}
    assert graph_inputs["categorical"][1] == 214
    if name == "whole":
        assert set(graph_inputs) == {"numerical", "categorical"}
    ts = manifest["models"]["torchscript"]
    ts_config = (root / "triton" / ts["model"] / "config.pbtxt").read_text()
    assert "dims: [ 214 ]" in ts_config


def test_a_dlrmv2_serve_case_runs_in_process():
    """``mode: serve`` on multi-hot data: the clients send (B, 214) ids and every cell is answered."""
    from dlrmbench.runner.worker import run_case
    from dlrmbench.workload.reporter import Reporter

    from dlrmbench.config.schema import Case

    case = Case.model_validate({**dlrmv2_case().model_dump(), "mode": "serve", "serve": {
        "target": "onnxruntime", "batch_sizes": [4], "concurrency": [1], "duration_s": 0.05, "warmup": 1}})
    reporter = Reporter(None)
    run_case(resolve(case), reporter)
    (result,) = [e for e in reporter.events if e["event"] == "result"]
    assert result["metrics"]["serving_requests@4:c1"]["value"] > 0
    assert result["environment"]["serving_export"]["check"]["onnx"]["passed"]


def test_a_damaged_hotness_in_export_json_is_refused(dlrmv2_exports, tmp_path):
    import shutil

    from dlrmbench.errors import UserError
    from dlrmbench.export.exporter import read_manifest

    _, root, _ = dlrmv2_exports["whole"]
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    manifest = json.loads((copy / "export.json").read_text())
    manifest["model"]["hotness"] = [0] * 26
    (copy / "export.json").write_text(json.dumps(manifest))
    with pytest.raises(UserError, match="model.hotness must be a positive whole number per table"):
        read_manifest(copy)
