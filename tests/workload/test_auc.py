"""ROC AUC on the device with ties collapsed, against scikit-learn (facts sheet 2.4)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import log_loss as sk_log_loss
from sklearn.metrics import roc_auc_score

from dlrmbench.metrics.auc import log_loss, roc_auc


@pytest.mark.parametrize("seed", range(5))
def test_auc_equals_sklearn_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 5000
    labels = (rng.random(n) < 0.3).astype(np.float32)
    # few distinct values -> many ties; some signal so the AUC is not 0.5
    scores = np.round(rng.normal(size=n) + labels * 0.7, 1).astype(np.float32)
    assert len(np.unique(scores)) < n / 10
    ours = roc_auc(torch.from_numpy(scores), torch.from_numpy(labels))
    assert ours == pytest.approx(roc_auc_score(labels, scores), abs=1e-6)


def test_auc_all_tied_is_one_half_and_perfect_is_one() -> None:
    labels = torch.tensor([0.0, 1.0, 0.0, 1.0])
    assert roc_auc(torch.zeros(4), labels) == pytest.approx(0.5)
    assert roc_auc(torch.tensor([0.1, 0.9, 0.2, 0.8]), labels) == 1.0
    assert roc_auc(torch.tensor([0.9, 0.1, 0.8, 0.2]), labels) == 0.0


def test_auc_one_class_is_nan() -> None:
    assert math.isnan(roc_auc(torch.rand(10), torch.ones(10)))


def test_log_loss_equals_sklearn() -> None:
    rng = np.random.default_rng(1)
    logits = rng.normal(size=1000) * 3
    labels = (rng.random(1000) < 0.25).astype(np.float64)
    expected = sk_log_loss(labels, 1 / (1 + np.exp(-logits)))
    assert log_loss(torch.from_numpy(logits), torch.from_numpy(labels)) == pytest.approx(expected, rel=1e-9)
