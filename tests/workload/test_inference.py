"""The inference benchmark: per batch size, latency statistics after warm-up, with and without the copy."""

from __future__ import annotations

import pytest
import torch

from dlrmbench.workload.result_metrics import inference_metrics as _inference_metrics
from dlrmbench.workload.build import build_workload
from dlrmbench.workload.inference import graphed_forward, run_inference
from dlrmbench.workload.reporter import Reporter
from .helpers import tiny_case
from dlrmbench.workload.build import resolve


def test_records_per_batch_size_with_and_without_copy() -> None:
    case = tiny_case(mode="inference", inference={"batch_sizes": [1, 4], "steps": 7, "warmup_steps": 3})
    work = build_workload(resolve(case))
    reporter = Reporter(stream=None)
    records = run_inference(work, reporter)
    assert [r["batch_size"] for r in records] == [1, 4]
    for record in records:
        assert record["cuda_graphs"] is False
        for variant in ("end_to_end", "device_only"):
            stats = record[variant]
            assert len(stats["step_times_s"]) == 7  # warm-up steps are not in the statistics
            assert stats["count"] == 7
            assert 0 < stats["p50_s"] <= stats["p90_s"] <= stats["p95_s"] <= stats["p99_s"] <= stats["max_s"]
            assert stats["throughput"] == pytest.approx(record["batch_size"] / stats["mean_s"])
    metrics = _inference_metrics(records)
    fields = {(m["name"], m["batch_size"]) for m in metrics.values()}  # the batch size is a field, not a suffix
    assert {("inference_throughput", 4), ("inference_latency_p95_device_only", 4), ("inference_latency_mean", 1),
            ("inference_latency_p99", 1), ("inference_throughput_p50", 4)} <= fields
    p50 = next(m for m in metrics.values() if (m["name"], m["batch_size"]) == ("inference_latency_p50", 4))
    assert p50["unit"] == "ms" and p50["higher_is_better"] is False
    thr50 = next(m for m in metrics.values() if (m["name"], m["batch_size"]) == ("inference_throughput_p50", 4))
    assert thr50["value"] == pytest.approx(4 / records[1]["end_to_end"]["p50_s"])


def test_model_is_left_in_eval_mode_and_unchanged() -> None:
    case = tiny_case(mode="inference", inference={"batch_sizes": [2], "steps": 2, "warmup_steps": 1})
    work = build_workload(resolve(case))
    before = {k: v.clone() for k, v in work.model.state_dict().items()}
    run_inference(work, Reporter(stream=None))
    assert not work.model.training
    assert all(torch.equal(before[k], v) for k, v in work.model.state_dict().items())


def test_cuda_graphs_refused_off_the_gpu() -> None:
    case = tiny_case(mode="inference")
    work = build_workload(resolve(case))
    batch = next(iter(work.dataset.batches("test", 4, torch.device("cpu"))))
    with pytest.raises(ValueError, match="needs a CUDA device"):
        graphed_forward(work.model, None, batch, torch.device("cpu"))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a GPU (none on this machine)")
def test_cuda_graph_replay_matches_eager() -> None:
    from dlrmbench.workload.precision import PrecisionPolicy

    case = tiny_case(mode="inference", device="cuda", inference={"cuda_graphs": True, "batch_sizes": [4]})
    work = build_workload(resolve(case))
    work.model.eval()
    batch = next(iter(work.dataset.batches("test", 4, torch.device("cpu"))))
    policy = PrecisionPolicy("fp32", "cuda", None)
    forward = graphed_forward(work.model, policy, batch, work.device)
    with torch.no_grad():
        eager = work.model(batch.numerical.cuda(), batch.categorical.cuda())
    assert torch.allclose(forward(batch.numerical.cuda(), batch.categorical.cuda()), eager)
