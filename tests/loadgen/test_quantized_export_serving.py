"""An int8 export (onnxruntime and TorchScript) served under LoadGen in accuracy mode: the AUC dlrmbench reports
equals scikit-learn's on the outputs in LoadGen's own log, the outputs are the quantised model's (not fp32's),
and the reference is the fp32 eager model on the same rows."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from tests.loadgen.accuracy_log import decoded_accuracy_log

pytest.importorskip("mlperf_loadgen")
pytest.importorskip("onnxruntime")

CASE = {
    "name": "int8-export", "mode": "serve", "device": "cpu", "batch_size": 256, "seed": 5,
    "dataset": {"name": "synthetic", "options": {"train_samples": 1024, "test_samples": 1024}},
    "model": {"bottom_mlp": [16, 8], "top_mlp": [16, 1], "embedding_dim": 8, "table_sizes": [50, 40, 30, 20]},
}
SAMPLES, ROWS = 200, 3


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Any, dict[str, Any], dict[str, Any], Path]]:
    from dlrmbench.config.schema import Case
    from dlrmbench.export.serve_loadgen import run_loadgen
    from dlrmbench.workload.build import build_workload, resolve
    from dlrmbench.workload.reporter import Reporter

    root = tmp_path_factory.mktemp("int8-export")
    out = {}
    for target in ("onnxruntime", "torchscript"):
        serve = {"target": target, "scenario": "offline", "samples": SAMPLES, "rows_per_sample": ROWS,
                 "precision": "int8", "loadgen": {"mode": "accuracy"}, "short": True}
        work = build_workload(resolve(Case.model_validate({**CASE, "serve": serve})))
        _, facts, outcome = run_loadgen(work, Reporter(io.StringIO()), root / target)
        out[target] = (work, facts, outcome, root / target / "offline")
    return out


@pytest.mark.parametrize("target", ["onnxruntime", "torchscript"])
def test_int8_export_accuracy_equals_an_independent_auc_of_the_logged_outputs(served, target):
    from sklearn.metrics import roc_auc_score

    from dlrmbench.export.check import TOLERANCES
    from dlrmbench.export.serving_model import eager_logits
    from dlrmbench.export.serving_precision import PROBABILITY_TOLERANCE

    work, facts, outcome, folder = served[target]
    export = facts["serving_export"]
    fmt = "onnx" if target == "onnxruntime" else "torchscript"
    assert export["precision"]["name"] == "int8" and export["precision"]["table_bits"] == 8
    assert export["check"][fmt]["passed"] is True and export["check"][fmt]["tolerance_key"] == "int8-8bit"
    assert "int8, 8-bit tables" in facts["serving_target"]

    outputs, labels, order = decoded_accuracy_log(folder)
    accuracy = outcome["accuracy"]
    assert accuracy["samples"] == SAMPLES and accuracy["rows"] == SAMPLES * ROWS
    assert accuracy["auc"] == pytest.approx(roc_auc_score(labels, outputs), abs=1e-12)

    # the fp32 eager model on the same rows, in the log's order: the reference AUC and the served error
    first = next(iter(work.dataset.batches("test", SAMPLES * ROWS, torch.device("cpu"))))
    rows = np.concatenate([np.arange(ROWS * i, ROWS * i + ROWS) for i in order])
    np.testing.assert_array_equal(labels, first.label.numpy()[rows])
    logits = eager_logits(work.model, first.numerical, first.categorical).reshape(-1).numpy().astype(np.float64)
    reference = 1 / (1 + np.exp(-logits[rows]))
    assert accuracy["reference_auc"] == pytest.approx(roc_auc_score(labels, reference), abs=1e-12)
    error = float(np.max(np.abs(outputs.astype(np.float64) - reference)))
    assert accuracy["max_abs_diff"] == pytest.approx(error, abs=1e-6)
    assert TOLERANCES["fp32"] < error <= PROBABILITY_TOLERANCE["int8"]  # quantised outputs, within int8's bound
    assert accuracy["within_tolerance"] is True
    ratio = accuracy["auc"] / accuracy["reference_auc"]
    assert accuracy["meets"] == {"99%": ratio >= 0.99, "99.9%": ratio >= 0.999}
