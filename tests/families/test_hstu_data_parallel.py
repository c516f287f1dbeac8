"""HSTU data parallel: 2 gloo ranks take the same steps as one process with the global batch (losses to 1e-5)."""

from __future__ import annotations

import pytest

from tests.distributed.harness import run_ranks

STEPS = 6


def _run(rank: int, world: int, embedding: str) -> dict:
    from dlrmbench_plugins.families.hstu.config import HSTUModelConfig, HSTUOptimizerConfig
    from dlrmbench_plugins.families.hstu.synthetic import SyntheticSequencesConfig, generate
    from dlrmbench_plugins.families.hstu.train import build_model, train

    data = generate(SyntheticSequencesConfig(num_users=96, num_items=200, num_clusters=10, min_length=4,
                                             max_length=20, seed=3))
    cfg = HSTUModelConfig(num_items=200, item_embedding_dim=16, num_blocks=2, num_heads=2, dqk=8, dv=8,
                          max_sequence_length=16, num_negatives=16, input_dropout=0.0, linear_dropout=0.0)
    model, opts = build_model(cfg, HSTUOptimizerConfig(name="adam", embedding=embedding, embedding_lr=0.05), seed=1)
    result = train(model, opts, data, batch_size=24 // world, epochs=2, max_steps=STEPS, seed=2, rank=rank, world_size=world)
    return {"losses": result.losses, "weights": {k: v.clone() for k, v in model.state_dict().items()}}


@pytest.mark.slow
def test_two_ranks_equal_one_process():
    """Adam on the dense weights, row-wise Adagrad on the table (its sparse gradients summed across ranks)."""
    single = _run(0, 1, "rowwise_adagrad")
    ranks = run_ranks(2, _run, "rowwise_adagrad")
    assert len(single["losses"]) == STEPS
    for r in ranks:
        assert r["losses"] == pytest.approx(single["losses"], abs=1e-5)
        for name, w in single["weights"].items():
            assert (r["weights"][name] - w).abs().max() < 1e-5, name
