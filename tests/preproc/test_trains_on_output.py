"""End to end: raw Criteo rows -> Spark preprocessing -> `dlrmbench run` trains on the output.

The `split` and `memmap` dataset plugins read what `preproc` writes without conversion, and a small
DLRM learns from the real rows (held-out AUC well above chance).
"""

from __future__ import annotations

import json

import pytest
from pp_helpers import run_pipeline

from dlrmbench.results.schema import CaseResult
from tests.conftest import run_cli
from tests.preproc.test_real_rows import make_input

pytestmark = pytest.mark.spark

SUITE = """
name: real-criteo
defaults:
  device: cpu
  batch_size: 8
  test_batch_size: 1000
  progress_every: 500
  timeout_s: 600
  model: {{bottom_mlp: [32, 16], embedding_dim: 16, top_mlp: [1], interaction: cat}}
  optimizer: {{lr: 0.7, warmup_steps: 200, decay_start_step: 200, decay_steps: 1088}}
cases:
  - name: split
    dataset: {{name: split, options: {{path: "{path}"}}}}
  - name: memmap
    dataset: {{name: memmap, options: {{path: "{path}"}}}}
"""


def test_harness_trains_on_the_spark_output(spark, criteo_data, tmp_path):
    dataset = tmp_path / "dataset"
    manifest = run_pipeline(make_input(criteo_data, tmp_path), dataset, threshold=4)
    assert manifest["rows"]["train"] == 10300
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE.format(path=dataset))
    out = tmp_path / "results"
    result = run_cli("run", str(suite), "-o", str(out), "--quiet")
    assert result.returncode == 0, result.stdout + result.stderr
    results = {p.stem: CaseResult.model_validate(json.loads(p.read_text())) for p in out.rglob("cases/*.json")}
    assert set(results) == {"split", "memmap"}
    for name, case in results.items():
        assert case.status == "ok", (name, case.reason)
        assert case.metrics["train_steps"].value == 1288  # ceil(10300 / 8): every row trained once
        assert case.evaluations[-1]["samples"] == 5000  # the whole test half of the last day
        assert case.metrics["auc"].value > 0.70, name
    assert results["split"].metrics["auc"].value == pytest.approx(results["memmap"].metrics["auc"].value, abs=1e-6)
