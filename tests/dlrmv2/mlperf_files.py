"""Writers of small datasets in exactly the MLPerf DLRMv2 preprocessed layout (for the tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

SMALL_SIZES = [7, 5, 3, 11, 4, 2, 9, 6, 3, 13, 5, 8, 2, 6, 10, 4, 3, 2, 5, 12, 17, 9, 7, 3, 2, 2]
SMALL_HOTNESS = [3, 2, 1, 2, 6, 1, 1, 1, 1, 7, 3, 8, 1, 6, 9, 5, 1, 1, 1, 12, 100, 27, 10, 3, 1, 1]


def write_day(root: Path, day: int, rows: int, seed: int, multi_hot: bool = False) -> dict[str, np.ndarray]:
    """day_N_labels.npy int32 (rows, 1), day_N_dense.npy float32 (rows, 13), day_N_sparse.npy int32 (rows, 26),
    and optionally day_N_sparse_multi_hot.npz (members 0.npy .. 25.npy, int32 (rows, h_f), uncompressed)."""
    rng = np.random.default_rng(seed)
    arrays = {
        "labels": rng.integers(0, 2, size=(rows, 1)).astype(np.int32),
        "dense": np.log(rng.integers(0, 100, size=(rows, 13)) + 3).astype(np.float32),
        "sparse": rng.integers(0, 2**31 - 1, size=(rows, 26)).astype(np.int32),
    }
    root.mkdir(parents=True, exist_ok=True)
    for kind, arr in arrays.items():
        np.save(root / f"day_{day}_{kind}.npy", arr)
    if multi_hot:
        members = {str(f): rng.integers(0, 2**31 - 1, size=(rows, h)).astype(np.int32)
                   for f, h in enumerate(SMALL_HOTNESS)}
        np.savez(root / f"day_{day}_sparse_multi_hot.npz", **members)
        arrays.update({f"mh{f}": m for f, m in members.items()})
    return arrays
