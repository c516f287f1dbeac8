"""A scaled-down HSTU training run on synthetic sequences learns the planted signal."""

from __future__ import annotations

import pytest
import torch

from dlrmbench_plugins.families.hstu.config import HSTUModelConfig, HSTUOptimizerConfig
from dlrmbench_plugins.families.hstu.synthetic import SyntheticSequencesConfig, generate
from dlrmbench_plugins.families.hstu.train import build_model, evaluate, train


def _random_hr10(data) -> float:
    """HR@10 of a random ranking: 10 over each user's candidates (catalogue minus distinct history), averaged."""
    hits = []
    for u in range(data.num_users):
        history = data.ids[data.offsets[u]:data.offsets[u + 1] - 1]
        hits.append(10 / (data.all_item_ids.numel() - history.unique().numel()))
    return sum(hits) / len(hits)


def test_hr10_reaches_five_times_random_and_runs_are_reproducible():
    data = generate(SyntheticSequencesConfig(num_users=256, num_items=500, num_clusters=25, min_length=10,
                                             max_length=30))
    cfg = HSTUModelConfig(num_items=500, item_embedding_dim=24, num_blocks=1, dqk=24, dv=24,
                          max_sequence_length=30, num_negatives=32)
    opt = HSTUOptimizerConfig(name="adam", embedding="rowwise_adagrad", embedding_lr=0.05)
    model, optimizers = build_model(cfg, opt, seed=0)
    before = evaluate(model, data, 256)
    result = train(model, optimizers, data, batch_size=32, epochs=3)
    after = evaluate(model, data, 256)
    assert after["hr@10"] >= 5 * _random_hr10(data), (before, after)
    assert after["ndcg@10"] > before["ndcg@10"] and result.losses[-1] < result.losses[0]
    assert result.samples == 3 * 256 and result.tokens > result.samples
    again, opts2 = build_model(cfg, opt, seed=0)
    # same steps again (to float rounding: the BLAS may split its sums by the threads it gets)
    assert train(again, opts2, data, batch_size=32, epochs=1, max_steps=3).losses == pytest.approx(
        result.losses[:3], rel=1e-6)
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_a_model_with_non_finite_weights_fails_its_evaluation_instead_of_ranking_every_target_first():
    from dlrmbench.metrics.auc import NonFiniteScores

    data = generate(SyntheticSequencesConfig(num_users=32, num_items=100, num_clusters=5, min_length=5,
                                             max_length=10))
    cfg = HSTUModelConfig(num_items=100, item_embedding_dim=8, num_blocks=1, dqk=8, dv=8,
                          max_sequence_length=10, num_negatives=4)
    model, _ = build_model(cfg, HSTUOptimizerConfig(name="adam"), seed=0)
    assert evaluate(model, data, 32)["hr@10"] < 1.0
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 2:
                p.fill_(float("nan"))
    with pytest.raises(NonFiniteScores, match="not finite"):
        evaluate(model, data, 32)
