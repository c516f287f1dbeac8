"""Ids are checked once: by a dataset that vouches for them, else by the model on every CPU batch."""

from __future__ import annotations

import pytest
import torch

from dlrmbench.config.schema import Case
from dlrmbench.model.embeddings import IndexOutOfRange
from dlrmbench.workload.build import build_workload
from dlrmbench.workload.build import resolve


def small_case(**dataset_options) -> Case:
    return Case(name="c", device="cpu", batch_size=64, test_batch_size=64,
                model={"bottom_mlp": [8], "top_mlp": [8, 1], "embedding_dim": 8, "table_sizes": [10, 20]},
                dataset={"name": "synthetic", "options": {"train_samples": 128, "test_samples": 64, **dataset_options}})


def test_a_dataset_that_checked_its_ids_spares_the_model_the_per_batch_check():
    work = build_workload(resolve(small_case()))
    assert work.dataset.ids_validated is True
    assert work.model.embeddings.check_every_batch is False


def test_ids_from_other_table_sizes_are_still_checked_every_batch():
    work = build_workload(resolve(small_case(table_sizes=[10, 40])))  # the data may hold ids the model lacks
    assert work.dataset.ids_validated is False
    embeddings = work.model.embeddings
    assert embeddings.check_every_batch is True
    embeddings(torch.tensor([[1, 2]]))  # the first batch is fine
    with pytest.raises(IndexOutOfRange, match=r"feature 1 \(cat_1\) has id 35"):
        embeddings(torch.tensor([[1, 35]]))
