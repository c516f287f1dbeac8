"""GPU-only checks of the precisions and CUDA graphs (skipped on machines without CUDA).

Written without a GPU to run them on: they were not executed during development.
"""

from __future__ import annotations

import math

import pytest
import torch

from dlrmbench.workload.build import build_workload
from dlrmbench.workload.inference import run_inference
from dlrmbench.workload.reporter import Reporter
from dlrmbench.workload.train import train

from .helpers import tiny_case
from dlrmbench.workload.build import resolve

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


@pytest.mark.parametrize(("precision", "scaler"), [("fp32", "static"), ("tf32", "static"), ("amp", "static"),
                                                   ("amp", "dynamic"), ("bf16", "static")])
def test_precisions_train_on_the_gpu(precision: str, scaler: str) -> None:
    if precision in ("tf32", "bf16") and torch.cuda.get_device_capability() < (8, 0):
        pytest.skip("needs compute capability 8.0")
    case = tiny_case(device="cuda", precision=precision, max_steps=6, optimizer={"amp_scaler": scaler})
    work = build_workload(resolve(case))
    outcome = train(work, Reporter(stream=None))
    assert outcome.steps == 6 and math.isfinite(outcome.final_loss)
    assert work.model.embeddings.weight.dtype == torch.float32
    assert len(outcome.step_times) == 6


def test_cuda_graph_inference_runs() -> None:
    case = tiny_case(mode="inference", device="cuda",
                     inference={"cuda_graphs": True, "batch_sizes": [1, 4], "steps": 5, "warmup_steps": 2})
    records = run_inference(build_workload(resolve(case)), Reporter(stream=None))
    assert all(r["cuda_graphs"] for r in records)
    assert all(len(r["end_to_end"]["step_times_s"]) == 5 for r in records)
