"""DLRMv2 in hybrid parallel: 20 steps on 2 and 3 gloo ranks equal single-process training within 1e-5.

The DLRMv2 shape in miniature: the ``dcnv2`` cross network, multi-hot synthetic ids (pooled vectors
cross the all-to-all) and Adagrad, whose update (unlike SGD's) is not right at ``lr / world size``,
so this is what catches a gradient of the model-parallel parts that is a sum over ranks instead of
the global-batch mean. Same machinery and tolerances as :mod:`tests.distributed.test_parity`.
"""

from __future__ import annotations

import pytest

from dlrmbench.config.schema import Case
from tests.distributed.harness import run_ranks
from tests.distributed.test_parity import STEPS, check_case, distributed_run

HOTNESS = [3, 1, 5, 2, 4]  # ids per feature; some rows repeat within a bag and across the batch


def dlrmv2_case(world: int, embedding: str, batch: int) -> Case:
    tables = [50, 40, 30, 20, 10]
    return Case.model_validate({
        "name": "parity-dlrmv2", "device": "cpu", "processes": world, "embedding": embedding,
        "dataset": {"name": "synthetic", "options": {
            "train_samples": batch * STEPS, "test_samples": batch * 3, "seed": 5,
            "multi_hot_sizes": HOTNESS, "multi_hot_distribution": "pareto"}},
        "batch_size": batch, "max_steps": STEPS, "progress_every": 1, "seed": 13,
        "model": {"bottom_mlp": [16, 8], "top_mlp": [16, 8, 1], "embedding_dim": 8, "table_sizes": tables,
                  "interaction": {"name": "dcnv2", "options": {"layers": 2, "low_rank": 4}}},
        "optimizer": {"name": "adagrad", "lr": 0.05, "warmup_steps": 0, "decay_start_step": 0, "decay_steps": 0},
    })


CONFIGS = {
    2: [("joint", 64)],
    3: [("multi_table", 100)],  # unequal slices 33/33/34, tables 2/2/1
}


@pytest.mark.slow
@pytest.mark.parametrize("world", [2, 3])
def test_dlrmv2_hybrid_parallel_adagrad_equals_single_process(world: int) -> None:
    cases = [dlrmv2_case(world, embedding, batch) for embedding, batch in CONFIGS[world]]
    ranks = run_ranks(world, distributed_run, cases)
    for index, case in enumerate(cases):
        check_case(case, [r[index] for r in ranks])
