"""The batch TorchRec's train pipeline moves on ``torchrec_dmp`` (``distributed.pipeline: sparse_dist``): the
same ids the strategy's own forward would hand its collection, checked the same way, an empty share as one
placeholder row of weight 0, and the weight kept across the pipeline's copies. The 2-rank training with it is
in ``tests/distributed/test_read_share.py``."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchrec")

from dlrmbench.batch import Batch, SparseFeatures  # noqa: E402
from dlrmbench.distributed.torchrec_pipeline import PipelineBatch, pipeline_batch  # noqa: E402
from dlrmbench.model.embeddings import IndexOutOfRange  # noqa: E402
from dlrmbench_plugins.embeddings._torchrec_impl import ShardableEmbeddings  # noqa: E402

SIZES = [5, 3, 7]


def embeddings(hash_indices: bool = False) -> ShardableEmbeddings:
    return ShardableEmbeddings(SIZES, 4, hash_indices, "sgd", {"lr": 0.0})


def multi_hot(values: list[int], rows: int) -> SparseFeatures:
    return SparseFeatures(torch.tensor(values), rows, 3, hotness=(2, 1, 1))


def test_the_sparse_input_is_the_batchs_ids_in_the_collections_layout() -> None:
    ids = multi_hot([0, 4, 1, 1, 2, 0, 6, 3], 2)  # feature 0: (0, 4), (1, 1); feature 1: 2, 0; feature 2: 6, 3
    batch = Batch(torch.randn(2, 13), ids, torch.tensor([1.0, 0.0]), global_rows=5)
    made = pipeline_batch(batch, embeddings(), 1.25)
    assert made.weight == 1.25 and made.dense is batch.numerical and made.labels is batch.label
    assert made.sparse.keys() == ["cat_0", "cat_1", "cat_2"] and made.sparse.stride() == 2
    assert made.sparse.values().tolist() == [0, 4, 1, 1, 2, 0, 6, 3]
    assert made.sparse.lengths().tolist() == [2, 2, 1, 1, 1, 1]
    one_hot = pipeline_batch(Batch(torch.randn(2, 13), torch.tensor([[4, 2, 6], [0, 1, 3]]), torch.ones(2)),
                             embeddings(), 1.0)
    assert one_hot.sparse.values().tolist() == [4, 0, 2, 1, 6, 3]  # feature-major, one id per bag
    assert one_hot.sparse.lengths().tolist() == [1] * 6


def test_ids_are_checked_or_folded_as_the_strategys_forward_does() -> None:
    bad = Batch(torch.randn(2, 13), torch.tensor([[4, 2, 6], [0, 3, 3]]), torch.ones(2))
    with pytest.raises(IndexOutOfRange, match="categorical feature 1 .* has id 3 at batch row 1"):
        pipeline_batch(bad, embeddings(), 1.0)
    folded = pipeline_batch(bad, embeddings(hash_indices=True), 1.0)
    assert folded.sparse.values().tolist() == [4, 0, 2, 0, 6, 3]


def test_an_empty_share_is_one_placeholder_row_of_weight_zero() -> None:
    empty = Batch(torch.randn(0, 13), multi_hot([], 0), torch.ones(0), global_rows=1)
    made = pipeline_batch(empty, embeddings(), 2.0)
    assert made.weight == 0.0 and made.dense.shape == (1, 13) and made.labels.tolist() == [0.0]
    assert made.sparse.stride() == 1 and made.sparse.lengths().tolist() == [2, 1, 1]


def test_the_pipelines_copies_keep_every_field() -> None:
    made = pipeline_batch(Batch(torch.randn(2, 13), multi_hot([0, 4, 1, 1, 2, 0, 6, 3], 2), torch.ones(2)),
                          embeddings(), 0.5)
    moved = made.to(torch.device("cpu"), non_blocking=True)
    assert isinstance(moved, PipelineBatch) and moved.weight == 0.5
    assert torch.equal(moved.dense, made.dense) and torch.equal(moved.sparse.values(), made.sparse.values())
