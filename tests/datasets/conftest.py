"""Small datasets written with the real writers (tmp_path, a few hundred samples)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.datasets.dataset_factories import SIZES, make_arrays

from dlrmbench.data.binary import write_binary
from dlrmbench.data.model_size import write_table_sizes
from dlrmbench.data.split import write_split_dataset


@pytest.fixture
def split_dataset(tmp_path: Path) -> tuple[Path, dict]:
    data = {"train": make_arrays(1000, SIZES, 1), "test": make_arrays(300, SIZES, 2)}
    root = tmp_path / "split"
    write_split_dataset(root, SIZES, data)
    return root, data


@pytest.fixture
def binary_dataset(tmp_path: Path) -> tuple[Path, dict]:
    data = {"train": make_arrays(1000, SIZES, 3), "test": make_arrays(300, SIZES, 4)}
    root = tmp_path / "binary"
    for name, arrays in data.items():
        write_binary(root / f"{name}_data.bin", *arrays)
    write_table_sizes(root / "model_size.json", SIZES)
    return root, data
