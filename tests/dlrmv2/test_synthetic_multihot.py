"""The synthetic dataset's multi-hot mode: per-feature hotness, the reference's id map, teacher labels."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from dlrmbench.batch import SparseFeatures
from dlrmbench_plugins.datasets._multihot import multi_hot_tables
from dlrmbench_plugins.datasets._synthetic_impl import SyntheticDataset
from dlrmbench_plugins.datasets.synthetic import SyntheticOptions

SIZES = [50, 7, 300]
HOT = [3, 1, 5]


@pytest.mark.parametrize("dist", ["uniform", "pareto"])
def test_multi_hot_batches_use_the_reference_map(dist) -> None:
    opts = SyntheticOptions(train_samples=64, test_samples=32, table_sizes=SIZES, multi_hot_sizes=HOT,
                            multi_hot_distribution=dist, num_numerical=4)
    data = SyntheticDataset(opts)
    assert data.hotness == HOT
    batches = list(data.batches("train", 16, torch.device("cpu")))
    assert len(batches) == 4 and all(isinstance(b.categorical, SparseFeatures) for b in batches)
    tables = multi_hot_tables(SIZES, HOT, dist)
    for b in batches:
        assert list(b.categorical.hotness) == HOT
        for f in range(3):
            ids = b.categorical.feature(f)[0]
            assert np.array_equal(ids.numpy(), tables[f][ids[:, 0].numpy()])  # column 0: the one-hot id
            assert int(ids.max()) < SIZES[f] and int(ids.min()) >= 0


def test_teacher_labels_follow_the_mean_id_weight() -> None:
    """Labels carry signal: samples whose ids have high teacher weight click more often."""
    opts = SyntheticOptions(train_samples=8192, test_samples=64, table_sizes=SIZES, multi_hot_sizes=HOT,
                            num_numerical=4, signal=4.0)
    data = SyntheticDataset(opts)
    from dlrmbench_plugins.datasets._synthetic_impl import _Teacher

    teacher = _Teacher(SIZES, 4, 4.0, torch.Generator().manual_seed(0))
    batch = next(iter(data.batches("train", 8192, torch.device("cpu"))))
    per_feature = [batch.categorical.feature(f)[0] for f in range(3)]
    logits = teacher.logits(batch.numerical, None, per_feature)
    high = batch.label[logits > 0].mean()
    low = batch.label[logits <= 0].mean()
    assert high > 0.65 and low < 0.35


def test_multi_hot_needs_device_generation() -> None:
    with pytest.raises(ValidationError, match="multi_hot_sizes applies to on: device only"):
        SyntheticOptions(on="disk", multi_hot_sizes=[1] * 26)
