"""Helpers of the dataset tests: small arrays with every table's largest id present, and small datasets
of them on disk."""

from __future__ import annotations

from pathlib import Path

import numpy as np

SIZES = [3, 126, 127, 32766, 32767, 100_000] + [10] * 20

def make_arrays(n: int, sizes: list[int], seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, n).astype(bool)
    numerical = rng.random((n, 13)).astype(np.float32) * 10
    categorical = np.stack([rng.integers(0, s, n) for s in sizes], axis=1)
    categorical[0] = np.asarray(sizes) - 1  # the largest id of every table appears
    return label, numerical, categorical


def split_dataset(root: Path) -> Path:
    """A split-format dataset at ``root``: 200 training and 60 test samples of :data:`SIZES`."""
    from dlrmbench.data.split import write_split_dataset

    write_split_dataset(root, SIZES, {"train": make_arrays(200, SIZES, 1), "test": make_arrays(60, SIZES, 2)})
    return root


def binary_dataset(root: Path) -> Path:
    """NVIDIA's binary format at ``root``: ``train_data.bin``, ``test_data.bin`` (200 samples each), model_size.json."""
    from dlrmbench.data.binary import write_binary
    from dlrmbench.data.model_size import write_table_sizes

    root.mkdir()
    for name, seed in (("train", 3), ("test", 4)):
        write_binary(root / f"{name}_data.bin", *make_arrays(200, SIZES, seed))
    write_table_sizes(root / "model_size.json", SIZES)
    return root
