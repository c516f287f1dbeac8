"""The training loop: evaluation schedule, auc_threshold, time to train, divergence, precision."""

from __future__ import annotations

import json
import time

import pytest
import torch

import dlrmbench.workload.train as train_module
from dlrmbench.config.schema import Case
from dlrmbench.host import Host
from dlrmbench.plugins import get_registry
from dlrmbench.resolved import write_resolved_case
from dlrmbench.runner import worker
from dlrmbench.runner.plan import plan
from dlrmbench.workload.evaluate import Evaluation
from dlrmbench.workload.reporter import Reporter
from dlrmbench.workload.train import Diverged, train
from .helpers import TABLES, ListDataset, random_batch, tiny_case, workload


def _data(steps: int, nan_at: int | None = None) -> ListDataset:
    batches = [random_batch(8, 3, TABLES, seed=s) for s in range(steps)]
    if nan_at is not None:
        batches[nan_at - 1].numerical[0, 0] = float("nan")
    return ListDataset(batches, batches[:2], TABLES)


def test_evaluates_every_test_freq_and_at_the_end() -> None:
    work = workload(tiny_case(test_freq=3), _data(10))
    outcome = train(work, Reporter(stream=None))
    assert [e["step"] for e in outcome.evaluations] == [3, 6, 9, 10]
    assert outcome.steps == 10 and outcome.time_to_train_s is None


def test_default_evaluates_once_at_the_end() -> None:
    outcome = train(workload(tiny_case(), _data(6)), Reporter(stream=None))
    assert [e["step"] for e in outcome.evaluations] == [6]


def test_auc_threshold_stops_and_time_to_train_includes_evaluations(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake evaluations of 0.2 s whose AUC rises 0.1 per call: the target 0.75 is hit at the 3rd."""
    calls = []

    def slow_evaluate(*args: object, **kwargs: object) -> Evaluation:
        time.sleep(0.2)
        calls.append(1)
        return Evaluation(metrics={"auc": 0.5 + 0.1 * len(calls), "log_loss": 0.5}, samples=16)

    monkeypatch.setattr("dlrmbench.workload.layout.evaluate", slow_evaluate)  # the single-process evaluation
    work = workload(tiny_case(test_freq=2, auc_threshold=0.75), _data(20))
    outcome = train(work, Reporter(stream=None))
    assert [e["step"] for e in outcome.evaluations] == [2, 4, 6]
    assert outcome.steps == 6  # stopped at the evaluation that reached the target
    hit = outcome.evaluations[-1]
    assert outcome.time_to_train_s == hit["elapsed_s"]
    assert outcome.time_to_train_s >= 3 * 0.2  # run start to the end of that evaluation, evaluations included
    assert outcome.measured_seconds < outcome.time_to_train_s - 3 * 0.2 + 0.05  # throughput window excludes them


def test_nan_loss_fails_naming_the_step() -> None:
    work = workload(tiny_case(progress_every=4), _data(10, nan_at=3))
    with pytest.raises(Diverged, match=r"loss became nan at step 3 \(lr 0\.5\)"):
        train(work, Reporter(stream=None))


def test_divergence_through_the_worker(tmp_path: pytest.TempPathFactory, capsys: pytest.CaptureFixture) -> None:
    """An absurd learning rate makes the loss infinite/NaN: the worker reports 'diverged' and the step."""
    case = tiny_case(optimizer={"lr": 1e30}, max_steps=6, model={"table_sizes": list(TABLES)})
    case_file = tmp_path / "case.json"
    (planned,) = plan([case], Host(cpu_count=2), get_registry())
    case_file.write_text(write_resolved_case(planned.resolved))  # what the runner hands a worker
    assert worker.main([str(case_file)]) == 1
    events = [json.loads(line.split(" ", 1)[1]) for line in capsys.readouterr().out.splitlines()
              if line.startswith("@@dlrmbench ")]
    error = events[-1]
    assert error["event"] == "error" and error["kind"] == "diverged"
    assert "at step" in error["message"] and ("nan" in error["message"] or "inf" in error["message"])


def test_throughput_window_skips_warmup_steps() -> None:
    work = workload(tiny_case(benchmark_warmup_steps=4), _data(10))
    outcome = train(work, Reporter(stream=None))
    assert outcome.measured_steps == 6 and outcome.measured_samples == 48
    assert len(outcome.step_times) == 10
    assert 0 < outcome.measured_seconds <= outcome.wall_seconds


def test_bf16_smoke() -> None:
    work = workload(tiny_case(precision="bf16", max_steps=2), _data(2))
    outcome = train(work, Reporter(stream=None))
    assert outcome.steps == 2 and torch.isfinite(torch.tensor(outcome.final_loss))
    assert work.model.embeddings.weight.dtype == torch.float32  # tables stay float32


@pytest.mark.parametrize(("precision", "words"), [("amp", "needs a CUDA GPU"), ("tf32", "needs a CUDA GPU")])
def test_precision_the_cpu_cannot_run_is_a_skip(precision: str, words: str) -> None:
    case = Case(name="p", device="cpu", precision=precision)
    [planned] = plan([case], Host(gpus=(), gpu_probe_error=None), get_registry())
    assert not planned.runnable and words in planned.skip_reason


def test_static_loss_scale_is_folded_into_the_lr(monkeypatch: pytest.MonkeyPatch) -> None:
    """amp (static): loss x 1024 and lr / 1024 give the fp32 step; checked on the CPU by forcing the policy."""
    from dlrmbench.workload import precision

    def fake_policy(case: Case, device: torch.device) -> precision.PrecisionPolicy:
        return precision.PrecisionPolicy("amp", "cpu", None, static_loss_scale=1024.0)

    ref = workload(tiny_case(max_steps=1), _data(1))
    train(ref, Reporter(stream=None))
    monkeypatch.setattr(train_module, "apply_precision", fake_policy)
    scaled = workload(tiny_case(max_steps=1), _data(1))
    train(scaled, Reporter(stream=None))
    for (name, a), b in zip(ref.model.state_dict().items(), scaled.model.state_dict().values()):
        assert torch.allclose(a, b, rtol=1e-6, atol=1e-7), name


def test_dynamic_grad_scaler_step_equals_fp32_step(monkeypatch: pytest.MonkeyPatch) -> None:
    """amp_scaler: dynamic uses torch's GradScaler (unscales sparse embedding grads too); forced on the CPU."""
    from dlrmbench.workload import precision

    def fake_policy(case: Case, device: torch.device) -> precision.PrecisionPolicy:
        return precision.PrecisionPolicy("amp", "cpu", None, dynamic_scaler=True)

    ref = workload(tiny_case(max_steps=2), _data(2))
    train(ref, Reporter(stream=None))
    monkeypatch.setattr(train_module, "apply_precision", fake_policy)
    scaled = workload(tiny_case(max_steps=2, optimizer={"amp_scaler": "dynamic"}), _data(2))
    train(scaled, Reporter(stream=None))
    for (name, a), b in zip(ref.model.state_dict().items(), scaled.model.state_dict().values()):
        assert torch.allclose(a, b, rtol=1e-6, atol=1e-7), name
