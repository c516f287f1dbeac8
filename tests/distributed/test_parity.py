"""20 hybrid-parallel training steps on 2 and 3 gloo ranks equal single-process training.

Same global batches, same initial weights (``distributed.init: replicate``): losses of every step,
every updated parameter and the final evaluation's AUC must agree within 1e-5 relative (float32;
"relative" is ``|a - b| / |b|`` for losses and ``||a - b|| / ||b||`` per parameter tensor).
"""

from __future__ import annotations

import pytest
import torch

from dlrmbench.config.schema import Case
from dlrmbench.distributed.placement import device_mapping
from dlrmbench.model.embeddings import EmbeddingStrategy
from tests.distributed.harness import run_ranks
from dlrmbench.workload.build import resolve

STEPS = 20


def make_case(world: int, tables: list[int], batch: int, embedding: str = "joint") -> Case:
    return Case.model_validate({
        "name": "parity", "device": "cpu", "processes": world, "embedding": embedding,
        "dataset": {"name": "synthetic", "options": {"train_samples": batch * STEPS, "test_samples": batch * 3,
                                                     "seed": 3}},
        "batch_size": batch, "max_steps": STEPS, "progress_every": 1, "seed": 11,
        "model": {"bottom_mlp": [16, 8], "top_mlp": [16, 8, 1], "embedding_dim": 8, "table_sizes": tables},
        "optimizer": {"lr": 0.5, "warmup_steps": 4, "decay_start_step": 10, "decay_steps": 10},
    })


def distributed_run(rank: int, world: int, cases: list[Case]) -> list[dict]:
    """Train every case in turn on this rank (one spawn per world size keeps the test fast)."""
    import torch.distributed as dist

    from dlrmbench.distributed.model import gather_tables
    from dlrmbench.distributed.train import train_distributed
    from dlrmbench.distributed.worker import build_distributed_workload
    from dlrmbench.workload.reporter import Reporter

    out = []
    for case in cases:
        work = build_distributed_workload(resolve(case), rank, world, rank, dist.group.WORLD)
        outcome = train_distributed(work, Reporter(None, rank=rank))
        top = work.model.top.module.state_dict()
        bottom = work.model.bottom_mlp.state_dict() if work.model.bottom_mlp is not None else None
        out.append({"losses": outcome.losses, "tables": gather_tables(work.model, work.table_sizes), "top": top,
                    "bottom": bottom, "evaluation": outcome.evaluations[-1]})
    return out


def single_run(case: Case) -> dict:
    from dlrmbench.distributed.model import table_weights
    from dlrmbench.workload.build import build_workload
    from dlrmbench.workload.reporter import Reporter
    from dlrmbench.workload.train import train

    work = build_workload(resolve(case.model_copy(update={"processes": 1})))
    reporter = Reporter(None)
    outcome = train(work, reporter)
    losses = [e["loss"] for e in reporter.events if e["event"] == "progress"]
    model = work.model
    emb: EmbeddingStrategy = model.embeddings
    tables = [table_weights(emb, f, rows) for f, rows in enumerate(work.table_sizes)]
    top = {f"interaction.{k}": v for k, v in model.interaction.state_dict().items()}
    top.update({f"top_mlp.{k}": v for k, v in model.top_mlp.state_dict().items()})
    top.update({f"out.{k}": v for k, v in model.out.state_dict().items()})
    return {"losses": losses, "tables": tables, "top": top, "bottom": model.bottom_mlp.state_dict(),
            "evaluation": outcome.evaluations[-1]}


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm().clamp_min(1e-30))


CONFIGS = {
    2: [([50, 40, 30, 20, 10], 64, "joint")],          # more tables than ranks
    3: [([60, 7], 100, "multi_table"),                 # fewer tables than ranks (rank 2: none), split 33/33/34
        ([5, 90, 30, 30, 12, 7, 64], 96, "joint")],    # uneven table counts 3/2/2
}


@pytest.mark.slow
@pytest.mark.parametrize("world", [2, 3])
def test_distributed_training_equals_single_process(world: int) -> None:
    cases = [make_case(world, tables, batch, embedding) for tables, batch, embedding in CONFIGS[world]]
    ranks = run_ranks(world, distributed_run, cases)
    for index, case in enumerate(cases):
        check_case(case, [r[index] for r in ranks])


def check_case(case: Case, ranks: list[dict]) -> None:
    tables, world = list(case.model.table_sizes), case.processes
    placement = device_mapping(tables, world)
    if len(tables) < world:
        assert any(len(t) == 0 for t in placement.tables)
    single = single_run(case)
    dist0 = ranks[0]
    assert len(dist0["losses"]) == len(single["losses"]) == STEPS
    for step, (a, b) in enumerate(zip(dist0["losses"], single["losses"]), start=1):
        assert abs(a - b) <= 1e-5 * abs(b), f"step {step}: distributed loss {a} vs single {b}"
    assert all(r["losses"] == dist0["losses"] for r in ranks)  # every rank reports the same global loss
    for f, (a, b) in enumerate(zip(dist0["tables"], single["tables"])):
        assert relative(a, b) <= 1e-5, f"table {f}"
    assert relative(dist0["tables"][0], make_initial_table(case, 0)) > 1e-3  # the tables did train
    for name, b in single["top"].items():
        for r in ranks:  # DDP keeps every replica identical
            assert relative(r["top"][name], b) <= 1e-5, f"top {name}"
    for name, b in single["bottom"].items():
        assert relative(dist0["bottom"][name], b) <= 1e-5, f"bottom {name}"
    for key in ("auc", "log_loss"):
        assert abs(dist0["evaluation"][key] - single["evaluation"][key]) <= 1e-6
    assert dist0["evaluation"]["samples"] == single["evaluation"]["samples"]


def make_initial_table(case: Case, feature: int) -> torch.Tensor:
    from dlrmbench.distributed.model import table_weights
    from dlrmbench.workload.build import build_model

    model = build_model(resolve(case), list(case.model.table_sizes))
    return table_weights(model.embeddings, feature, case.model.table_sizes[feature])
