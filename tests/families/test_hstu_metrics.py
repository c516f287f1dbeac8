"""HSTU quality metrics against independent computations (Python loops, numpy, scikit-learn)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import log_loss, roc_auc_score

from dlrmbench_plugins.families.hstu.config import HSTUModelConfig
from dlrmbench_plugins.families.hstu.jagged import SequenceBatch, offsets_from_lengths
from dlrmbench_plugins.families.hstu.metrics import grouped_auc, normalized_entropy, per_task_auc, retrieval_metrics
from dlrmbench_plugins.families.hstu.model import HSTURetrieval, retrieval_ranks


def test_retrieval_metrics_follow_their_definitions():
    ranks = [1, 3, 10, 11, 50, 51, 200, 2501]
    got = retrieval_metrics(torch.tensor(ranks), ks=(10, 50, 200))
    for k in (10, 50, 200):
        assert got[f"hr@{k}"] == pytest.approx(sum(r <= k for r in ranks) / len(ranks), abs=1e-15)
        assert got[f"ndcg@{k}"] == pytest.approx(sum(1 / math.log2(r + 1) for r in ranks if r <= k) / len(ranks),
                                                abs=1e-15)
    assert got["mrr"] == pytest.approx(sum(1 / r for r in ranks) / len(ranks), abs=1e-15)
    with pytest.raises(ValueError, match="ranks start at 1"):
        retrieval_metrics(torch.tensor([0, 1]))


def test_ranks_exclude_the_history_and_cap_as_the_reference():
    torch.manual_seed(0)
    cfg = HSTUModelConfig(num_items=30, item_embedding_dim=8, num_blocks=1, dqk=4, dv=4, max_sequence_length=6,
                          eval_max_k=5, input_dropout=0, linear_dropout=0)
    model = HSTURetrieval(cfg).eval()
    lengths = torch.tensor([3, 5, 2, 4])
    total = int(lengths.sum())
    ids = torch.randint(1, 31, (total,))
    targets = torch.tensor([7, 12, 30, int(ids[-1])])  # the last user's target is in its own history
    batch = SequenceBatch(ids, torch.arange(total) * 100, torch.zeros(total, dtype=torch.long),
                          offsets_from_lengths(lengths), targets, torch.full((4,), 10_000), torch.zeros(4, dtype=torch.long))
    all_items = torch.arange(1, 31)
    got = retrieval_ranks(model, batch, all_items).tolist()
    with torch.no_grad():
        users = model.user_vectors(batch).numpy()
        items = model.item_vectors(all_items).numpy()
    expected = []
    for b in range(4):
        hist = set(ids[int(batch.offsets[b]):int(batch.offsets[b + 1])].tolist())
        t = int(targets[b])
        if t in hist:
            expected.append(6)
            continue
        scores = {i: float(users[b] @ items[i - 1]) for i in range(1, 31) if i not in hist}
        rank = 1 + sum(1 for i, s in scores.items() if i != t and s >= scores[t])
        expected.append(rank if rank <= 5 else 6)
    assert got == expected


def test_normalized_entropy_is_log_loss_over_the_base_rate_log_loss():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    p = np.clip(rng.random(500) * 0.8 + 0.1 * y, 1e-3, 1 - 1e-3)
    base = np.full_like(p, y.mean())
    expected = log_loss(y, p) / log_loss(y, base)
    assert normalized_entropy(torch.tensor(p), torch.tensor(y)) == pytest.approx(expected, rel=1e-12)
    w = rng.random(500)
    expected_w = log_loss(y, p, sample_weight=w) / log_loss(y, np.full_like(p, (w * y).sum() / w.sum()),
                                                           sample_weight=w)
    assert normalized_entropy(torch.tensor(p), torch.tensor(y), torch.tensor(w)) == pytest.approx(expected_w,
                                                                                                 rel=1e-12)


def test_auc_per_task_and_grouped_auc_match_scikit_learn():
    rng = np.random.default_rng(1)
    p, y = rng.random((200, 2)), rng.integers(0, 2, (200, 2))
    got = per_task_auc(torch.tensor(p), torch.tensor(y), ["rating", "click"])
    assert got["auc/rating"] == pytest.approx(roc_auc_score(y[:, 0], p[:, 0]), abs=1e-12)
    assert got["auc/click"] == pytest.approx(roc_auc_score(y[:, 1], p[:, 1]), abs=1e-12)
    bounds = [0, 10, 20, 25, 40, 41, 60]
    yy = y[:, 0].copy()
    yy[20:25] = 1  # one label class only: skipped
    pp = p[:, 0].copy()
    pp[41:60] = 0.5  # identical predictions: skipped
    per_request = [roc_auc_score(yy[lo:hi], pp[lo:hi]) for lo, hi in [(0, 10), (10, 20), (25, 40)]]
    assert grouped_auc(torch.tensor(pp), torch.tensor(yy), torch.tensor(bounds)) == pytest.approx(
        sum(per_request) / 3, abs=1e-12)
