"""Save and resume: a run saved after E steps and resumed from its checkpoint for E more steps computes
every loss the uninterrupted 2E-step run computes, and ends on the same model (same test AUC, log loss).

Through the worker's own path (``run_case``: ``checkpoint.save`` after training, ``checkpoint.load``
before), multi-hot ids, a constant learning rate and data that repeat each epoch (``distinct_batches``
= batches per epoch), so that steps E+1..2E of the whole run see the batches the resumed run sees. The
checkpoint carries the optimizer plugin's state and, for ``torchrec_fused``, FBGEMM's fused optimizer
state (Adagrad's accumulators); without the latter the resumed Adagrad losses differ (checked below).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch

from dlrmbench.config.schema import Case
from dlrmbench.host import current_host
from dlrmbench.plugins import get_registry
from dlrmbench.runner.worker import run_case
from dlrmbench.workload.reporter import Reporter
from dlrmbench.workload.build import resolve

EPOCH = 4  # batches per epoch, all distinct, repeated in the next epoch
CONTESTANTS = [("torchrec_fused", "sgd"), ("torchrec_fused", "adagrad"), ("torchrec", "adagrad"),
               ("multi_table", "adagrad"), ("joint_adagrad_in_backward", "adagrad")]


def case_of(name: str, embedding: str, optimizer: str, steps: int, checkpoint: dict[str, str] | None) -> Case:
    lr = 0.5 if optimizer == "sgd" else 0.05
    raw: dict[str, Any] = {
        "name": name, "device": "cpu", "precision": "fp32", "batch_size": 16, "test_batch_size": 32,
        "epochs": 2, "max_steps": steps, "seed": 5, "progress_every": 1,
        "embedding": embedding,
        "model": {"num_numerical": 3, "bottom_mlp": [8, 4], "embedding_dim": 4, "top_mlp": [8, 1],
                  "table_sizes": [11, 7, 5], "interaction": {"name": "dcnv2", "options": {"layers": 1, "low_rank": 2}}},
        "optimizer": {"name": optimizer, "lr": lr, "warmup_steps": 0, "decay_start_step": 0, "decay_steps": 0},
        "dataset": {"name": "synthetic", "options": {
            "train_samples": 16 * EPOCH, "test_samples": 64, "seed": 3, "num_numerical": 3,
            "distinct_batches": EPOCH, "multi_hot_sizes": [3, 1, 2]}},
    }
    if checkpoint:
        raw["checkpoint"] = checkpoint
    return Case.model_validate(raw)


def train(case: Case) -> tuple[list[float], dict[str, Any]]:
    """Every step's loss and the final evaluation of ``case`` run as the worker runs it."""
    reporter = Reporter(None)
    run_case(resolve(case), reporter)
    losses = [e["loss"] for e in reporter.events if e["event"] == "progress"]
    result = next(e for e in reporter.events if e["event"] == "result")
    return losses, result["evaluations"][-1]


def require(embedding: str) -> None:
    reason = get_registry().get("embedding", embedding).availability(current_host())
    assert reason is None, f"{embedding} unavailable here: {reason} (make test installs the torchrec extra)"


@pytest.mark.parametrize("embedding,optimizer", CONTESTANTS, ids=lambda v: v)
def test_a_resumed_run_computes_what_the_uninterrupted_run_computes(tmp_path: Path, embedding: str,
                                                                      optimizer: str) -> None:
    require(embedding)
    whole, whole_end = train(case_of("whole", embedding, optimizer, 2 * EPOCH, None))
    first, _ = train(case_of("first", embedding, optimizer, EPOCH, {"save": str(tmp_path / "first.pt")}))
    resumed, resumed_end = train(case_of("resumed", embedding, optimizer, EPOCH, {"load": str(tmp_path / "first.pt")}))
    assert len(whole) == 2 * EPOCH and len(first) == len(resumed) == EPOCH
    assert first == whole[:EPOCH]  # the same start (bit for bit)
    assert resumed == pytest.approx(whole[EPOCH:], rel=1e-6, abs=0)
    assert resumed != pytest.approx(first, rel=1e-3)  # the resumed run did start from the trained model
    assert resumed_end["auc"] == pytest.approx(whole_end["auc"], abs=1e-9)
    assert resumed_end["log_loss"] == pytest.approx(whole_end["log_loss"], rel=1e-6)


def test_the_fused_optimizer_state_is_in_the_checkpoint_and_matters(tmp_path: Path) -> None:
    """The checkpoint of torchrec_fused + Adagrad holds FBGEMM's accumulators (non-zero after training);
    resuming with them zeroed gives other losses, so the resume test above can tell them apart."""
    require("torchrec_fused")
    path = tmp_path / "first.pt"
    whole, _ = train(case_of("whole", "torchrec_fused", "adagrad", 2 * EPOCH, None))
    train(case_of("first", "torchrec_fused", "adagrad", EPOCH, {"save": str(path)}))
    payload = torch.load(path, weights_only=True)
    extra = payload["state"]["embeddings._extra_state"]
    assert extra["optimizer"] == "adagrad" and len(extra["states"]) == 3
    assert [tuple(s.shape) for s in extra["states"]] == [(11, 4), (7, 4), (5, 4)]
    assert all(float(s.abs().sum()) > 0 for s in extra["states"])
    assert payload["optimizer"]["name"] == "adagrad"  # the dense layers' Adagrad state, from the plugin
    extra["states"] = [torch.zeros_like(s) for s in extra["states"]]
    torch.save(payload, path)
    forgetful, _ = train(case_of("resumed", "torchrec_fused", "adagrad", EPOCH, {"load": str(path)}))
    assert forgetful != pytest.approx(whole[EPOCH:], rel=1e-4)


def test_an_adagrad_in_backward_checkpoint_without_its_accumulator_still_loads(tmp_path: Path) -> None:
    """Checkpoints written before the accumulator was saved load; Adagrad then starts afresh."""
    path = tmp_path / "first.pt"
    whole, _ = train(case_of("whole", "joint_adagrad_in_backward", "adagrad", 2 * EPOCH, None))
    train(case_of("first", "joint_adagrad_in_backward", "adagrad", EPOCH, {"save": str(path)}))
    payload = torch.load(path, weights_only=True)
    assert float(payload["state"].pop("embeddings.state_sum").abs().sum()) > 0
    torch.save(payload, path)
    losses, _ = train(case_of("resumed", "joint_adagrad_in_backward", "adagrad", EPOCH, {"load": str(path)}))
    assert all(math.isfinite(l) for l in losses)  # noqa: E741
    assert losses != pytest.approx(whole[EPOCH:], rel=1e-4)  # without the accumulator the steps differ


def test_a_checkpoint_of_another_optimizer_starts_the_optimizer_afresh(tmp_path: Path) -> None:
    """Fine-tuning with another optimizer (or evaluating with a default one) loads the weights only."""
    require("torchrec_fused")
    path = tmp_path / "first.pt"
    train(case_of("first", "torchrec_fused", "adagrad", EPOCH, {"save": str(path)}))
    losses, _ = train(case_of("resumed", "torchrec_fused", "sgd", EPOCH, {"load": str(path)}))
    assert len(losses) == EPOCH and all(l == l for l in losses)  # noqa: E741 (finite, not NaN)
