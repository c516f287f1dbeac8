"""Helpers of the dataset tests: small arrays with every table's largest id present."""

from __future__ import annotations

import numpy as np

SIZES = [3, 126, 127, 32766, 32767, 100_000] + [10] * 20

def make_arrays(n: int, sizes: list[int], seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, n).astype(bool)
    numerical = rng.random((n, 13)).astype(np.float32) * 10
    categorical = np.stack([rng.integers(0, s, n) for s in sizes], axis=1)
    categorical[0] = np.asarray(sizes) - 1  # the largest id of every table appears
    return label, numerical, categorical
