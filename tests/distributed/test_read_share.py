"""On 2 gloo ranks, each rank reads only its share of every global batch, and training is unchanged (issue 24).

One launch runs every topology (dlrmbench's hybrid layout, torchrec_dmp, data_parallel) twice through the
rank's entry: ``distributed.read: global`` with ``pipeline: false`` (every rank reads the whole global batch,
in the step, and cuts its share: the previous path) and the defaults, ``read: share`` with ``pipeline: true``
(the next batches read on a background thread). The split files' bytes each rank read (``host_bytes_read`` in the
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


def make_case(topology: str, read: str, data: Path) -> Case:
    return Case.model_validate({
        "name": f"{topology}-{read}", "mode": "train", "device": "cpu", "processes": 2, "seed": 5,
        "embedding": "torchrec_fused" if topology == "torchrec_dmp" else "joint",
        "distributed": {"topology": topology, "read": read, "pipeline": read == "share"},
        "dataset": {"name": "synthetic", "options": {"train_samples": 5 * 64 + 20, "test_samples": 2 * 50 + 9,
                                                     "seed": 3, "on": "disk", "dir": str(data)}},
        "batch_size": 64, "test_batch_size": 50, "test_freq": 3, "progress_every": 1,
        "model": {"bottom_mlp": [16, 8], "top_mlp": [16, 8, 1], "embedding_dim": 8,
                  "table_sizes": [40, 7, 300, 12, 40000]},
        "optimizer": {"lr": 0.5, "warmup_steps": 2, "decay_start_step": 4, "decay_steps": 3},
    })




@pytest.mark.slow
def test_each_rank_reads_its_share_and_trains_as_before(tmp_path: Path) -> None:
    cases = [make_case(t, read, tmp_path / "data") for t in TOPOLOGIES for read in ("global", "share")]
    events = run_ranks(2, case_events, cases)[0]  # rank 0 emits the result with every rank's figures
    by_name = dict(zip((c.name for c in cases), events))
    for topology in TOPOLOGIES:
        before, after = by_name[f"{topology}-global"], by_name[f"{topology}-share"]
        assert of(after, "result")[0]["telemetry"]["input"]["pipeline"] is True
        assert of(before, "result")[0]["telemetry"]["input"]["reads_share"] is False
        old = [r["host_bytes_read"] for r in of(before, "result")[0]["telemetry"]["ranks"]]
        new = [r["host_bytes_read"] for r in of(after, "result")[0]["telemetry"]["ranks"]]
        assert old[0] == old[1] > 0, (topology, old)  # every rank read every global batch
        assert sum(new) == old[0], (topology, new, old)  # the shares partition one global read
        assert all(0 < n < old[0] for n in new), (topology, new)
        losses = [[e["loss"] for e in of(run, "progress")] for run in (before, after)]
        assert len(losses[0]) == 6 and losses[0] == pytest.approx(losses[1], rel=1e-5, abs=1e-7), topology
        evaluations = [[(e["auc"], e["log_loss"], e["samples"]) for e in of(run, "evaluation")]
                       for run in (before, after)]
        assert len(evaluations[0]) == 2, topology  # at step 3 and at the end
        for x, y in zip(*evaluations):
            assert x[2] == y[2] == 109 and x[:2] == pytest.approx(y[:2], rel=1e-5), topology
