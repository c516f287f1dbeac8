"""Each rank reads only its share of a global batch, in every dataset format (issue 24).

For every format, every share of 2 and 3 ranks (a data-parallel/DMP rank's rows; a hybrid rank's tables,
with and without the dense features) must give exactly the tensors that cutting the global batch in memory
gives (``Batch.share``, the old path), batch by batch over a split whose last batch is short; and the bytes
each rank's reader counts must be what the format's layout says that share costs, computed here from the
file layout, not from the reader.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from dlrmbench.batch import SparseFeatures
from dlrmbench.data.binary import write_binary
from dlrmbench.data.share import BatchShare
from dlrmbench.data.split import categorical_dtype, write_split_dataset
from dlrmbench_plugins.datasets._files_impl import BinaryDataset, MemmapDataset, SplitDataset
from dlrmbench_plugins.datasets.files import MemmapOptions, ReaderOptions
from tests.datasets.dataset_factories import make_arrays

SIZES = [3, 126, 127, 32766, 32767, 100_000] + [10] * 20
SAMPLES, BATCH = 23, 7  # batches of 7, 7, 7, 2: the last is short, and smaller than 3 ranks


def shares(world: int) -> list[BatchShare]:
    """Every rank's rows, and the hybrid layout's column shares (bottom MLP on rank 0)."""
    out = [BatchShare.rows(r, world) for r in range(world)]
    features = [tuple(range(r, 26, world)) for r in range(world)]
    out += [BatchShare.columns(r, world, features[r], r == 0) for r in range(world)]
    return out


def same(a, b) -> bool:
    if isinstance(a, SparseFeatures):
        return (isinstance(b, SparseFeatures) and torch.equal(a.values, b.values) and a.hotness == b.hotness
                and a.batch_size == b.batch_size)
    return a.shape == b.shape and torch.equal(a, b)


def assert_share_equals_cut(dataset, share: BatchShare, batch_size: int = BATCH) -> None:
    device = torch.device("cpu")
    whole = list(dataset.batches("train", batch_size, device))
    mine = list(dataset.rank_batches("train", batch_size, device, share))
    assert len(mine) == len(whole)
    for global_batch, part in zip(whole, mine):
        cut = global_batch.share(share)
        assert part.global_rows == global_batch.size
        assert same(part.numerical, cut.numerical) and same(part.label, cut.label)
        assert same(part.categorical, cut.categorical)


def split_bytes(share: BatchShare, sizes: list[int]) -> int:
    """What the split layout costs this share over the split: 1 byte a label, 26 a dense row, the cat dtype an id."""
    total = 0
    for start in range(0, SAMPLES, BATCH):
        rows = min(BATCH, SAMPLES - start)
        mine = share.sizes(rows)[share.rank]
        dense_rows = {"rows": mine, "batch": rows, "none": 0}[share.dense]
        id_rows = rows if share.ids == "batch" else mine
        features = share.features if share.features is not None else range(len(sizes))
        total += mine + 26 * dense_rows + id_rows * sum(categorical_dtype(sizes[f]).itemsize for f in features)
    return total


def binary_bytes(share: BatchShare) -> int:
    """A 160-byte record holds every column: a share reads whole records of the rows it needs."""
    total = 0
    for start in range(0, SAMPLES, BATCH):
        rows = min(BATCH, SAMPLES - start)
        needed = rows if share.ids == "batch" or share.dense == "batch" else share.sizes(rows)[share.rank]
        total += 160 * needed
    return total


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("share")
    label, numerical, categorical = make_arrays(SAMPLES, SIZES, seed=4)
    write_split_dataset(root / "split", SIZES, {"train": (label, numerical, categorical),
                                                "test": (label, numerical, categorical)})
    write_binary(root / "binary" / "train_data.bin", label, numerical, categorical)
    write_binary(root / "binary" / "test_data.bin", label, numerical, categorical)
    return {"split": root / "split", "binary": root / "binary"}


def _no_prefetch(path: Path, memmap: bool = False):
    if memmap:
        return MemmapDataset(MemmapOptions(path=str(path), prefetch=0, check_values=False))
    cls = SplitDataset if (path / "train").is_dir() else BinaryDataset
    return cls(ReaderOptions(path=str(path), prefetch=0, check_values=False))


@pytest.mark.parametrize("world", [2, 3])
@pytest.mark.parametrize("fmt,memmap", [("split", False), ("split", True), ("binary", False), ("binary", True)])
def test_file_readers_read_exactly_the_share(files, fmt: str, memmap: bool, world: int) -> None:
    for share in shares(world):
        reader = _no_prefetch(files[fmt], memmap)
        assert_share_equals_cut(reader, share)
        before = reader.bytes_read()
        list(reader.rank_batches("train", BATCH, torch.device("cpu"), share))
        expected = split_bytes(share, SIZES) if fmt == "split" else binary_bytes(share)
        assert reader.bytes_read() - before == expected, share


def test_row_shares_add_up_to_one_global_read(files) -> None:
    """Over the ranks, the row shares of the split layout read what one whole read does: no byte twice."""
    whole = _no_prefetch(files["split"])
    list(whole.batches("train", BATCH, torch.device("cpu")))
    parts = 0
    for share in shares(3)[:3]:
        reader = _no_prefetch(files["split"])
        list(reader.rank_batches("train", BATCH, torch.device("cpu"), share))
        parts += reader.bytes_read()
    assert parts == whole.bytes_read() == SAMPLES * (1 + 26 + sum(categorical_dtype(s).itemsize for s in SIZES))


@pytest.mark.parametrize("multi_hot", [None, [3, 1, 2] + [1] * 23])
def test_synthetic_on_device_keeps_only_the_share(multi_hot) -> None:
    from dlrmbench_plugins.datasets._synthetic_impl import SyntheticDataset
    from dlrmbench_plugins.datasets.synthetic import SyntheticOptions

    data = SyntheticDataset(SyntheticOptions(train_samples=SAMPLES, test_samples=SAMPLES, table_sizes=SIZES,
                                             multi_hot_sizes=multi_hot))
    for share in shares(2):
        # the synthetic split has whole batches only (23 // 7 = 3)
        assert_share_equals_cut(data, share)
    assert data.bytes_read() is None  # generated, nothing is read


@pytest.mark.parametrize("mode", ["none", "npz", "generate"])
def test_mlperf_npy_reads_only_the_share(tmp_path, mode: str) -> None:
    from dlrmbench_plugins.datasets._mlperf_npy_impl import MlperfNpyDataset
    from dlrmbench_plugins.datasets.mlperf_npy import MlperfNpyOptions
    from tests.dlrmv2.mlperf_files import SMALL_HOTNESS, SMALL_SIZES, write_day

    class Case:
        name, mode = "c", "train"

        class model:  # noqa: N801
            table_sizes = SMALL_SIZES

    npz = mode == "npz"
    write_day(tmp_path, 0, 9, seed=1, multi_hot=npz), write_day(tmp_path, 1, 5, seed=2, multi_hot=npz)
    write_day(tmp_path, 2, 4, seed=3, multi_hot=npz)
    options = {"multi_hot_sizes": SMALL_HOTNESS} if mode != "none" else {"multi_hot": "none"}

    def dataset() -> MlperfNpyDataset:
        return MlperfNpyDataset(MlperfNpyOptions(path=str(tmp_path), **options), Case())

    for world in (2, 3):
        for share in shares(world):
            data = dataset()
            assert_share_equals_cut(data, share, batch_size=6)  # batches cross the day boundary (9 + 5 rows)
            data = dataset()
            list(data.rank_batches("train", 6, torch.device("cpu"), share))
            expected = 0
            for rows in (6, 6, 2):
                mine = share.sizes(rows)[share.rank]
                dense_rows = {"rows": mine, "batch": rows, "none": 0}[share.dense]
                id_rows = rows if share.ids == "batch" else mine
                features = share.features if share.features is not None else range(26)
                ids = id_rows * 4 * (sum(SMALL_HOTNESS[f] for f in features) if npz else 26)  # .npy rows hold all 26
                expected += 4 * mine + 4 * 13 * dense_rows + ids
            assert data.bytes_read() == expected, share


def test_a_rank_without_tables_gets_rows_without_ids(files) -> None:
    """More than 4 ranks: rank 0 holds only the bottom MLP; its share is the dense features and no id."""
    share = BatchShare.columns(0, 5, (), bottom_mlp=True)
    reader = _no_prefetch(files["split"])
    batch = next(iter(reader.rank_batches("train", BATCH, torch.device("cpu"), share)))
    assert tuple(batch.categorical.shape) == (BATCH, 0) and tuple(batch.numerical.shape) == (BATCH, 13)
    assert batch.size == share.sizes(BATCH)[0] and batch.global_rows == BATCH
    whole = next(iter(reader.batches("train", BATCH, torch.device("cpu"))))
    assert np.array_equal(batch.numerical.numpy(), whole.numerical.numpy())


def test_the_input_pipeline_yields_the_same_batches_and_raises_where_the_reader_did() -> None:
    """``distributed.pipeline``: the next batches are produced on a background thread, in order; a reader's
    error reaches the loop at the batch where it happened; stopping early stops the thread."""
    import threading

    from dlrmbench.data.prefetch import ahead

    assert list(ahead(iter(range(50)), depth=3)) == list(range(50))

    def failing():
        yield from range(3)
        raise OSError("disk gone at batch 3")

    got = []
    with pytest.raises(OSError, match="batch 3"):
        for item in ahead(failing()):
            got.append(item)
    assert got == [0, 1, 2]
    stream = ahead(iter(range(10_000)), depth=2)
    assert next(stream) == 0
    stream.close()
    assert not any(t.name == "dlrmbench-input-pipeline" for t in threading.enumerate())
