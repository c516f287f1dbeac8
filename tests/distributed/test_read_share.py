"""On 2 gloo ranks, each rank reads only its share of every global batch, and training is unchanged (issue 24).

One launch runs every topology (dlrmbench's hybrid layout, torchrec_dmp, data_parallel) twice through the
rank's entry: ``distributed.read: global`` with ``pipeline: off`` (every rank reads the whole global batch,
in the step, and cuts its share: the previous path) and the defaults, ``read: share`` with ``pipeline: auto``
(the next batches read on a background thread; on torchrec_dmp also TorchRec's TrainPipelineSparseDist, and a
third torchrec_dmp run with the thread only). The split files' bytes each rank read (``host_bytes_read`` in the
result) must be: the whole of what one global read costs on every rank with ``global``; and with ``share``,
parts that add up to exactly one global read (each rank's rows, or on the hybrid layout each rank's tables
and the bottom MLP rank's dense features: no byte read twice), each a fraction of it. Every loss and
evaluation must be the same with both (1e-5). The per-rank byte counts per format are checked exactly in
``tests/datasets/test_read_share.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dlrmbench.config.schema import Case
from tests.distributed.harness import case_events, of, run_ranks

TOPOLOGIES = ("dlrmbench", "torchrec_dmp", "data_parallel")


def make_case(topology: str, read: str, data: Path, pipeline: str = "auto") -> Case:
    return Case.model_validate({
        "name": f"{topology}-{read}" + ("" if pipeline == "auto" else f"-{pipeline}"), "mode": "train", "device": "cpu", "processes": 2, "seed": 5,
        "embedding": "torchrec_fused" if topology == "torchrec_dmp" else "joint",
        "distributed": {"topology": topology, "read": read, "pipeline": "off" if read == "global" else pipeline},
        "dataset": {"name": "synthetic", "options": {"train_samples": 5 * 64 + 20, "test_samples": 2 * 50 + 9,
                                                     "seed": 3, "on": "disk", "dir": str(data)}},
        "batch_size": 64, "test_batch_size": 50, "test_freq": 3, "progress_every": 1,
        "model": {"bottom_mlp": [16, 8], "top_mlp": [16, 8, 1], "embedding_dim": 8,
                  "table_sizes": [40, 7, 300, 12, 40000]},
        "optimizer": {"lr": 0.5, "warmup_steps": 2, "decay_start_step": 4, "decay_steps": 3},
    })




AUTO_PIPELINE = {"dlrmbench": "thread", "torchrec_dmp": "sparse_dist", "data_parallel": "thread"}


def progress_losses(events: list[dict]) -> list[float]:
    return [e["loss"] for e in of(events, "progress")]


def evaluations(events: list[dict]) -> list[tuple[float, float, int]]:
    return [(e["auc"], e["log_loss"], e["samples"]) for e in of(events, "evaluation")]


def assert_same_training(before: list[dict], after: list[dict], label: str) -> None:
    """Every step's loss and every evaluation equal (1e-5); 6 steps, 2 evaluations of all 109 test samples."""
    losses = [progress_losses(run) for run in (before, after)]
    assert len(losses[0]) == 6 and losses[0] == pytest.approx(losses[1], rel=1e-5, abs=1e-7), label
    scored = [evaluations(run) for run in (before, after)]
    assert len(scored[0]) == len(scored[1]) == 2, label  # at step 3 (mid-epoch: batches in flight) and at the end
    for x, y in zip(*scored):
        assert x[2] == y[2] == 109 and x[:2] == pytest.approx(y[:2], rel=1e-5), label


@pytest.mark.slow
def test_each_rank_reads_its_share_and_trains_as_before(tmp_path: Path) -> None:
    """Also TorchRec's TrainPipelineSparseDist (``pipeline: auto`` on torchrec_dmp): the same losses and evaluations
    as the unpipelined loop (read global, pipeline off) and as the thread-only read ahead (read share)."""
    cases = [make_case(t, read, tmp_path / "data") for t in TOPOLOGIES for read in ("global", "share")]
    cases.append(make_case("torchrec_dmp", "share", tmp_path / "data", pipeline="thread"))
    events = run_ranks(2, case_events, cases)[0]  # rank 0 emits the result with every rank's figures
    by_name = dict(zip((c.name for c in cases), events))
    for topology in TOPOLOGIES:
        before, after = by_name[f"{topology}-global"], by_name[f"{topology}-share"]
        assert of(after, "result")[0]["telemetry"]["input"]["pipeline"] == AUTO_PIPELINE[topology]
        assert of(before, "result")[0]["telemetry"]["input"]["pipeline"] == "off"
        assert of(before, "result")[0]["telemetry"]["input"]["reads_share"] is False
        old = [r["host_bytes_read"] for r in of(before, "result")[0]["telemetry"]["ranks"]]
        new = [r["host_bytes_read"] for r in of(after, "result")[0]["telemetry"]["ranks"]]
        assert old[0] == old[1] > 0, (topology, old)  # every rank read every global batch
        assert sum(new) == old[0], (topology, new, old)  # the shares partition one global read
        assert all(0 < n < old[0] for n in new), (topology, new)
        assert_same_training(before, after, topology)
    threaded = by_name["torchrec_dmp-share-thread"]
    assert of(threaded, "result")[0]["telemetry"]["input"]["pipeline"] == "thread"
    assert_same_training(threaded, by_name["torchrec_dmp-share"], "torchrec pipeline against thread")
