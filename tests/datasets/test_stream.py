"""Batch order options every reader honours, and the background prefetcher."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from dlrmbench.config.schema import Case
from dlrmbench.data.prefetch import prefetch
from dlrmbench.data.stream import BatchOrder
from dlrmbench_plugins.datasets._files_impl import BinaryDataset, MemmapDataset, SplitDataset
from dlrmbench_plugins.datasets.files import MemmapOptions, ReaderOptions

CPU = torch.device("cpu")


def first_ids(batches) -> list[int]:
    """The first sample's first-feature id of every batch (identifies the batch)."""
    return [int(b.categorical[0, 5]) for b in batches]


def test_batch_count_partial_and_dropped_last() -> None:
    assert BatchOrder(1000, 256).num_batches == 4
    assert BatchOrder(1000, 256).span(3) == (768, 232)
    assert BatchOrder(1000, 256, drop_last=True).num_batches == 3
    assert BatchOrder(1024, 256, drop_last=True).num_batches == 4


def test_subset_keeps_the_first_fraction_of_batches() -> None:
    assert BatchOrder(1000, 100, subset=0.25).num_batches == 3  # ceil(10 * 0.25)
    assert list(BatchOrder(1000, 100, subset=0.25).indices(0)) == [0, 1, 2]


def test_shuffle_is_a_seeded_permutation_per_epoch() -> None:
    order = BatchOrder(10_000, 100, shuffle=True, seed=3)
    first, second = order.indices(0), order.indices(1)
    assert sorted(first) == list(range(100)) and sorted(second) == list(range(100))
    assert list(first) != list(range(100)) and list(first) != list(second)
    assert list(BatchOrder(10_000, 100, shuffle=True, seed=3).indices(0)) == list(first)
    assert list(BatchOrder(10_000, 100, shuffle=True, seed=4).indices(0)) != list(first)


@pytest.mark.parametrize("kind", ["split", "binary", "memmap"])
def test_every_reader_honours_the_options(kind: str, split_dataset, binary_dataset) -> None:
    root, data = split_dataset if kind in ("split", "memmap") else binary_dataset
    factory = {"split": SplitDataset, "binary": BinaryDataset, "memmap": MemmapDataset}[kind]
    options = MemmapOptions if kind == "memmap" else ReaderOptions
    case = Case(name="c", device="cpu", seed=11)

    def stream(split: str = "train", **opts: object):
        return factory(options(path=str(root), **opts), case).batches(split, 100, CPU)

    categorical = data["train"][2]
    plain = stream(prefetch=0)
    assert len(plain) == 10
    assert first_ids(plain) == [int(categorical[i * 100, 5]) for i in range(10)]
    assert len(stream(dataset_subset=0.3)) == 3
    assert len(factory(options(path=str(root)), case).batches("test", 128, CPU)) == 3  # 300 samples, last short
    assert len(factory(options(path=str(root), drop_last_batch=True), case).batches("test", 128, CPU)) == 2
    shuffled = stream(shuffle_batch_order=True)
    epoch1, epoch2 = first_ids(shuffled), first_ids(shuffled)
    assert sorted(epoch1) == sorted(first_ids(plain)) and epoch1 != first_ids(plain) and epoch1 != epoch2
    assert first_ids(stream(shuffle_batch_order=True)) == epoch1  # seeded by the case seed
    assert first_ids(stream(shuffle_batch_order=True, shuffle_seed=5)) != epoch1
    test_plain = first_ids(factory(options(path=str(root), shuffle_batch_order=True), case).batches("test", 100, CPU))
    assert test_plain == [int(data["test"][2][i * 100, 5]) for i in range(3)]  # test order is never shuffled
    for a, b in zip(stream(prefetch=0), stream(prefetch=3, prefetch_workers=2)):
        assert torch.equal(a.categorical, b.categorical) and torch.equal(a.numerical, b.numerical)
        assert torch.equal(a.label, b.label)


def test_prefetch_keeps_order_stops_early_and_raises_where_it_failed() -> None:
    loaded: list[int] = []

    def load(i: int):
        loaded.append(i)
        if i == 7:
            raise ValueError("bad batch 7")
        return i

    assert list(itertools.islice(prefetch(load, range(5), 2, CPU, workers=2), 5)) == [0, 1, 2, 3, 4]
    loaded.clear()
    got = list(itertools.islice(prefetch(load, range(1000), 3, CPU), 2))
    assert got == [0, 1] and len(loaded) <= 5  # a few ahead, not the whole range
    seen = []
    with pytest.raises(ValueError, match="bad batch 7"):
        for item in prefetch(load, range(10), 4, CPU):
            seen.append(item)
    assert seen == list(range(7))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_prefetch_stages_batches_on_the_gpu(split_dataset) -> None:
    root, data = split_dataset
    device = torch.device("cuda")
    stream = SplitDataset(ReaderOptions(path=str(root), prefetch=4), Case(name="c")).batches("train", 100, device)
    batches = list(stream)
    assert all(b.categorical.is_cuda and b.numerical.is_cuda and b.label.is_cuda for b in batches)
    assert np.array_equal(torch.cat([b.categorical for b in batches]).cpu().numpy(), data["train"][2])
