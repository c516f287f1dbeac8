"""Every embedding strategy: same rows as multi_table, sparse float32 tables, id errors, memory."""

from __future__ import annotations

import pytest
import torch

from dlrmbench.model.embeddings import IndexOutOfRange
from dlrmbench.plugins import get_registry
from dlrmbench.runner.worker import _memory_metrics

SIZES = [5, 9, 3, 7]
DIM = 16
STRATEGIES = ["multi_table", "joint", "joint_sparse", "joint_fused"]


def make(name: str, hash_indices: bool = False) -> torch.nn.Module:
    spec = get_registry().get("embedding", name)
    options = spec.options.model_validate({"interpret": True} if "interpret" in spec.options.model_fields else {})
    emb = spec.load()(SIZES, DIM, hash_indices, options)
    emb.reset_parameters(torch.Generator().manual_seed(3))
    return emb


def ids() -> torch.Tensor:
    return torch.tensor([[0, 8, 2, 6], [4, 0, 0, 3], [4, 8, 1, 6]])


@pytest.mark.parametrize("name", STRATEGIES)
def test_same_vectors_and_sparse_float32_gradients(name: str) -> None:
    reference = make("multi_table")
    emb = make(name)
    out = emb(ids())
    assert torch.equal(out, reference(ids()))
    out.sum().backward()
    params = list(emb.parameters())
    assert params and all(p.dtype == torch.float32 and p.grad is not None and p.grad.is_sparse for p in params)


@pytest.mark.parametrize("name", STRATEGIES)
def test_out_of_range_id_names_feature_and_value(name: str) -> None:
    bad = ids()
    bad[1, 2] = 3  # feature 2 has 3 rows: ids 0..2
    with pytest.raises(IndexOutOfRange, match=r"categorical feature 2 \(cat_2\) has id 3 at batch row 1"):
        make(name)(bad)
    negative = ids()
    negative[0, 0] = -1
    with pytest.raises(IndexOutOfRange, match="feature 0 .* id -1"):
        make(name)(negative)


@pytest.mark.parametrize("name", STRATEGIES)
def test_hash_indices_folds_ids(name: str) -> None:
    raw = ids() + torch.tensor(SIZES) * 2
    assert torch.equal(make(name, hash_indices=True)(raw), make("multi_table")(ids()))


@pytest.mark.parametrize("name", STRATEGIES)
def test_reports_parameter_and_optimizer_bytes(name: str) -> None:
    emb = make(name)
    table_bytes = sum(SIZES) * DIM * 4
    assert emb.parameter_bytes() == table_bytes
    assert emb.optimizer_state_bytes("sgd") == 0
    metrics = _memory_metrics(emb)
    assert metrics["embedding_parameter_bytes"]["value"] == table_bytes
    assert metrics["embedding_optimizer_state_bytes"]["value"] == 0
