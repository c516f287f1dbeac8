"""What a writer writes, the reader returns unchanged (bytes checked against the reference layout)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from dlrmbench.data.binary import BinaryFile, write_binary
from dlrmbench.data.memmap import MemmapBinaryFile, MemmapSplitFiles
from dlrmbench.data.model_size import read_table_sizes
from dlrmbench.data.split import SplitFiles, categorical_dtype, write_split_dataset
from dlrmbench.data.stream import BatchOrder, FileBatchStream

from tests.datasets.dataset_factories import SIZES, make_arrays


@pytest.mark.parametrize("size, dtype", [(1, "int8"), (126, "int8"), (127, "int16"), (32766, "int16"),
                                         (32767, "int32"), (2**31 - 1, "int32")])
def test_categorical_dtype_at_the_cardinality_limits(size: int, dtype: str) -> None:
    assert categorical_dtype(size) == np.dtype(dtype)


def test_split_files_bytes_and_dtypes(split_dataset: tuple[Path, dict]) -> None:
    root, data = split_dataset
    label, numerical, categorical = data["train"]
    train = root / "train"
    assert (train / "label.bin").read_bytes() == bytes(int(x) for x in label)
    assert (train / "numerical.bin").read_bytes() == numerical.astype("<f2").tobytes()
    widths = {3: 1, 126: 1, 127: 2, 32766: 2, 32767: 4, 100_000: 4, 10: 1}
    for f, size in enumerate(SIZES):
        raw = (train / f"cat_{f}.bin").read_bytes()
        assert len(raw) == 1000 * widths[size], f"cat_{f} (table size {size})"
        assert raw == categorical[:, f].astype(f"<i{widths[size]}").tobytes()
    stored = json.loads((root / "model_size.json").read_text())
    assert list(stored) == [f"_c{14 + i}" for i in range(26)]
    assert list(stored.values()) == [s - 1 for s in SIZES]  # largest id = rows - 1
    assert read_table_sizes(root / "model_size.json") == SIZES


@pytest.mark.parametrize("reader", [SplitFiles, MemmapSplitFiles])
def test_split_reader_returns_what_was_written(split_dataset: tuple[Path, dict], reader: type) -> None:
    root, data = split_dataset
    for name in ("train", "test"):
        label, numerical, categorical = data[name]
        files = reader(root / name, SIZES)
        assert files.samples == len(label)
        raw = files.read(0, files.samples)
        np.testing.assert_array_equal(raw.label, label)
        np.testing.assert_array_equal(raw.numerical, numerical.astype(np.float16))
        np.testing.assert_array_equal(raw.categorical_matrix(), categorical)
        part = files.read(290, 7)
        np.testing.assert_array_equal(part.categorical_matrix(), categorical[290:297])


@pytest.mark.parametrize("reader", [BinaryFile, MemmapBinaryFile])
def test_binary_reader_returns_what_was_written(binary_dataset: tuple[Path, dict], reader: type) -> None:
    root, data = binary_dataset
    label, numerical, categorical = data["train"]
    file = reader(root / "train_data.bin")
    assert file.samples == 1000
    raw = file.read(0, 1000)
    np.testing.assert_array_equal(raw.label, label.astype(np.int32))
    np.testing.assert_array_equal(raw.numerical, numerical)
    np.testing.assert_array_equal(raw.categorical_matrix(), categorical)


def test_binary_record_layout_is_the_reference_one(tmp_path: Path) -> None:
    label, numerical, categorical = make_arrays(2, SIZES)
    write_binary(tmp_path / "x.bin", label, numerical, categorical)
    expected = b"".join(
        struct.pack("<i13f26i", int(label[i]), *map(float, numerical[i]), *map(int, categorical[i])) for i in range(2)
    )
    assert (tmp_path / "x.bin").read_bytes() == expected
    assert len(expected) == 2 * 160


def test_largest_ids_at_the_dtype_limits_round_trip(tmp_path: Path) -> None:
    sizes = [126, 127, 32766, 32767]
    categorical = np.array([[125, 126, 32765, 32766], [0, 0, 0, 0]])
    label = np.array([1, 0])
    numerical = np.zeros((2, 13), np.float32)
    write_split_dataset(tmp_path / "d", sizes, {"train": (label, numerical, categorical)})
    raw = SplitFiles(tmp_path / "d" / "train", sizes).read(0, 2)
    assert [c.dtype.name for c in raw.categorical] == ["int8", "int16", "int16", "int32"]
    np.testing.assert_array_equal(raw.categorical_matrix(), categorical)


def test_stream_converts_to_model_dtypes(split_dataset: tuple[Path, dict]) -> None:
    root, data = split_dataset
    label, numerical, categorical = data["train"]
    files = SplitFiles(root / "train", SIZES)
    batches = list(FileBatchStream(files, BatchOrder(files.samples, 256), torch.device("cpu")))
    assert [b.size for b in batches] == [256, 256, 256, 232]
    first = batches[0]
    assert first.numerical.dtype == torch.float32 and first.numerical.shape == (256, 13)
    assert first.categorical.dtype == torch.int64 and first.categorical.shape == (256, 26)
    assert first.label.dtype == torch.float32 and first.label.shape == (256,)
    assert torch.equal(torch.cat([b.categorical for b in batches]), torch.from_numpy(categorical))
    assert torch.equal(torch.cat([b.numerical for b in batches]),
                       torch.from_numpy(numerical.astype(np.float16).astype(np.float32)))
    assert torch.equal(torch.cat([b.label for b in batches]), torch.from_numpy(label.astype(np.float32)))
