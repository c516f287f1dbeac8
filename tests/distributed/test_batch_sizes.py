"""Every distributed mode with training, test and inference batches that differ and do not split evenly.

Issue 28, finding 1: a hybrid-parallel case whose ``test_batch_size`` was not its ``batch_size`` trained and
then failed at its first evaluation (``rank 1 expected the global batch of 2048 rows, got 8192``). Here
train, test and inference run through the rank's entry (``run_distributed``) on both topologies, on 2 and
3 gloo ranks (one spawn per world size), with a training batch of 101 (50/51, 33/34/34 per rank), a test
batch of 70, inference batches of 1 (fewer rows than ranks) and 37, and splits whose last batch is short
(646 training samples: 6 x 101 + 40; 225 test samples: 3 x 70 + 15). Every loss and evaluation must
equal the single process's on the same case (float32, 1e-5 relative).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dlrmbench.config.schema import Case
from tests.distributed.harness import case_events, of, run_ranks

TRAIN, TEST, INFERENCE = 101, 70, [1, 37]
TRAIN_SAMPLES, TEST_SAMPLES = 6 * TRAIN + 40, 3 * TEST + 15


def make_case(mode: str, topology: str, world: int, data: Path) -> Case:
    return Case.model_validate({
        "name": f"{mode}-{topology}", "mode": mode, "device": "cpu", "processes": world, "seed": 5,
        "embedding": "torchrec_fused" if topology == "torchrec_dmp" else "joint",
        "distributed": {"topology": topology},
        "dataset": {"name": "synthetic", "options": {"train_samples": TRAIN_SAMPLES, "test_samples": TEST_SAMPLES,
                                                     "seed": 3, "on": "disk", "dir": str(data)}},
        "batch_size": TRAIN, "test_batch_size": TEST, "test_freq": 3, "progress_every": 1,
        "inference": {"batch_sizes": INFERENCE, "steps": 2, "warmup_steps": 1},
        "model": {"bottom_mlp": [16, 8], "top_mlp": [16, 8, 1], "embedding_dim": 8, "table_sizes": [40, 7, 30, 12]},
        "optimizer": {"lr": 0.5, "warmup_steps": 2, "decay_start_step": 4, "decay_steps": 3},
    })


def cases(world: int, data: Path) -> list[Case]:
    return [make_case(mode, topology, world, data) for topology in ("dlrmbench", "torchrec_dmp")
            for mode in ("train", "test", "inference")]



SINGLE: dict[str, list[dict[str, Any]]] = {}
"""One process's events per case (the same case at 2 and 3 ranks has one single-process reference)."""


def single_events(case: Case) -> list[dict[str, Any]]:
    from dlrmbench.runner.worker import run_case
    from dlrmbench.workload.build import resolve
    from dlrmbench.workload.reporter import Reporter

    alone = case.model_copy(update={"processes": 1})
    key = alone.model_dump_json()
    if key not in SINGLE:
        reporter = Reporter(None)
        run_case(resolve(alone), reporter)
        SINGLE[key] = reporter.events
    return SINGLE[key]



@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The on-disk synthetic split (written once here, so the ranks only read it)."""
    import torch

    from dlrmbench.workload.build import open_dataset, resolve

    folder = tmp_path_factory.mktemp("split") / "data"
    open_dataset(resolve(make_case("train", "dlrmbench", 1, folder)), torch.device("cpu"))
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("world", [2, 3])
def test_every_mode_and_topology_with_uneven_differing_batches(world: int, data: Path) -> None:
    from dlrmbench.distributed.placement import split_batch

    assert split_batch(TRAIN, world) != [TRAIN // world] * world  # the split is uneven
    all_cases = cases(world, data)
    ranks = run_ranks(world, case_events, all_cases)
    for index, case in enumerate(all_cases):
        single = single_events(case)
        mine = [r[index] for r in ranks]
        for rank, events in enumerate(mine):  # no rank failed, not only the one that reports
            assert not of(events, "error"), (rank, of(events, "error"))
        result = of(mine[0], "result")[0]
        expected = of(single, "result")[0]
        if case.mode == "inference":
            assert [r["batch_size"] for r in result["inference"]] == INFERENCE
            assert all(r["end_to_end"]["throughput"] > 0 for r in result["inference"])
            continue
        if case.mode == "train":
            losses = [e["loss"] for e in of(mine[0], "progress")]
            want = [e["loss"] for e in of(single, "progress")]
            assert len(losses) == len(want) == 7  # six full batches and the short one
            for step, (a, b) in enumerate(zip(losses, want), start=1):
                assert abs(a - b) <= 1e-5 * abs(b), f"{case.name} step {step}: {world} ranks {a} vs single {b}"
        got, wanted = result["evaluations"], expected["evaluations"]
        assert [e["step"] for e in got] == [e["step"] for e in wanted]
        for a, b in zip(got, wanted):
            assert a["samples"] == b["samples"] == TEST_SAMPLES
            for key in ("auc", "log_loss"):
                assert abs(a[key] - b[key]) <= 1e-5 * abs(b[key]), (case.name, key, a, b)
