"""Every embedding strategy: same rows as multi_table, sparse float32 tables, id errors, memory."""

from __future__ import annotations

import pytest
import torch

from dlrmbench.model.embeddings import IndexOutOfRange
from dlrmbench.plugins import get_registry
from dlrmbench.config.schema import Case
from dlrmbench.batch import SparseFeatures
from dlrmbench.plugin_api import BuildContext
from dlrmbench.workload.result_metrics import memory_metrics
from dlrmbench.workload.build import resolve

SIZES = [5, 9, 3, 7]
DIM = 16
STRATEGIES = ["multi_table", "joint", "joint_sparse", "joint_fused"]


def make(name: str, hash_indices: bool = False) -> torch.nn.Module:
    spec = get_registry().get("embedding", name)
    options = spec.options.model_validate({"interpret": True} if "interpret" in spec.options.model_fields else {})
    case = Case(name="s", device="cpu", model={"bottom_mlp": [DIM], "embedding_dim": DIM, "hash_indices": hash_indices})
    emb = spec.build(BuildContext(case, options, tuple(SIZES)))
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
    assert emb.optimizer_state_bytes(0.0) == 0  # plain SGD keeps no state
    assert emb.optimizer_state_bytes(4.0) == table_bytes  # one float32 per parameter (Adagrad)
    metrics = memory_metrics(emb, resolve(Case(name="c", device="cpu", model={"table_sizes": SIZES})))
    assert metrics["embedding_parameter_bytes"]["value"] == table_bytes
    assert metrics["embedding_optimizer_state_bytes"]["value"] == 0


def jagged_ids() -> SparseFeatures:
    """3 samples x 4 features, 0..3 ids each (KeyedJaggedTensor layout: feature-major values + lengths)."""
    lengths = torch.tensor([1, 2, 0, 3, 1, 1, 2, 2, 1, 0, 3, 1])
    values = torch.tensor([0, 4, 1, 2, 3, 4, 8, 7, 0, 1, 2, 2, 1, 1, 0, 6, 6])  # within each feature's table
    return SparseFeatures(values, 3, 4, lengths=lengths)


def summed_reference(reference: torch.nn.Module, ids: SparseFeatures) -> torch.Tensor:
    """Sum pooling computed one id at a time from multi_table's one-hot lookups."""
    out = torch.zeros(ids.batch_size, ids.num_features, DIM)
    offsets = ids.bag_offsets().tolist()
    for f in range(ids.num_features):
        table = reference.tables[f].weight.detach()
        for b in range(ids.batch_size):
            bag = f * ids.batch_size + b
            for i in range(offsets[bag], offsets[bag + 1]):
                out[b, f] += table[int(ids.values[i])]
    return out


@pytest.mark.parametrize("name", ["multi_table", "joint", "joint_fused"])
@pytest.mark.parametrize("layout", ["jagged", "fixed"])
def test_multi_hot_ids_are_sum_pooled_with_sparse_gradients(name: str, layout: str) -> None:
    reference = make("multi_table")
    if layout == "jagged":
        ids = jagged_ids()
    else:  # 2 ids per sample of every feature, 3 of the last
        ids = SparseFeatures.from_fixed([torch.tensor([[r % s, (r + 1) % s] + ([(r + 2) % s] if f == 3 else [])
                                                       for r in range(3)]) for f, s in enumerate(SIZES)])
    emb = make(name)
    out = emb(ids)
    assert out.shape == (3, 4, DIM)
    assert torch.allclose(out, summed_reference(reference, ids), atol=1e-6)
    out.sum().backward()
    assert all(p.grad is not None and p.grad.is_sparse for p in emb.parameters())


def test_one_hot_as_sparse_features_gives_the_dense_lookup() -> None:
    emb = make("joint")
    assert torch.equal(emb(SparseFeatures.from_dense(ids())), emb(ids()))


def test_multi_hot_out_of_range_id_names_the_feature() -> None:
    bad = jagged_ids()
    bad.values[3] = 9  # feature 1 (9 rows): ids 0..8
    with pytest.raises(IndexOutOfRange, match=r"categorical feature 1 \(cat_1\) has id 9"):
        make("joint")(bad)


@pytest.mark.parametrize("name", ["joint_sparse"])
def test_one_hot_kernels_refuse_multi_hot_clearly(name: str) -> None:
    assert get_registry().get("embedding", name).multi_hot is False  # the planner skips such cases first
    with pytest.raises(ValueError, match=f"multi-hot is not supported by the {name} embedding strategy"):
        make(name)(jagged_ids())


def test_sparse_features_refuse_a_layout_that_does_not_add_up() -> None:
    with pytest.raises(ValueError, match="lengths add up to 17 ids, values holds 18"):
        SparseFeatures(torch.zeros(18, dtype=torch.int64), 3, 4, lengths=jagged_ids().lengths)
    with pytest.raises(ValueError, match=r"fixed hotness \[1, 2\] x batch 2 needs 6 ids, got 5"):
        SparseFeatures(torch.zeros(5, dtype=torch.int64), 2, 2, hotness=(1, 2))


def test_selecting_a_ranks_features_keeps_their_bags() -> None:
    ids = jagged_ids()
    mine = ids.select([3, 1])
    assert mine.num_features == 2 and mine.lengths.tolist() == [0, 3, 1, 3, 1, 1]
    assert mine.values.tolist() == [1, 0, 6, 6, 2, 3, 4, 8, 7]


def bags(ids: SparseFeatures) -> list[list[list[int]]]:
    """Every (feature, sample) bag's ids, from offsets: an independent reading of the layout."""
    offsets = ids.bag_offsets().tolist()
    values = ids.values.tolist()
    return [[values[offsets[f * ids.batch_size + b]:offsets[f * ids.batch_size + b + 1]]
             for b in range(ids.batch_size)] for f in range(ids.num_features)]


def test_a_ranks_samples_keep_their_bags_in_both_layouts() -> None:
    jagged = jagged_ids()
    fixed = SparseFeatures.from_fixed([torch.arange(6).view(3, 2), torch.arange(10, 13).view(3, 1)])
    for ids in (jagged, fixed):
        for start, stop in ((0, 1), (1, 3), (0, 3), (2, 3)):
            part = ids.samples(start, stop)
            assert part.batch_size == stop - start and part.num_features == ids.num_features
            assert bags(part) == [feature[start:stop] for feature in bags(ids)]
            assert (part.hotness is None) == (ids.hotness is None)
