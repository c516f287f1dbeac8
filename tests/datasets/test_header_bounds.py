"""Files whose headers claim huge sizes are refused by a bound checked before anything is mapped or
allocated, naming the file and the field (issue 28, class "huge headers"): .npy arrays, the members of a
multi-hot .npz, model_size.json."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dlrmbench.data.errors import DatasetError
from dlrmbench.data.model_size import read_table_sizes
from dlrmbench.data.mlperf_npy import open_multi_hot_npz, open_npy


def _claim(path: Path, shape: str, claimed: str) -> None:
    """Rewrite the .npy header's shape in place (the header's space padding absorbs the longer text)."""
    data = path.read_bytes()
    old = f"'shape': {shape}, }}".encode()
    new = f"'shape': {claimed}, }}".encode()
    at = data.index(old)
    end = at + len(old)
    grow = len(new) - len(old)
    assert data[end:end + grow] == b" " * grow
    path.write_bytes(data[:at] + new + data[end + grow:])


@pytest.mark.parametrize("claimed", ["(99999999999, 13)", "(4611686018427387904, 13)", "(101, 13)"])
def test_an_npy_header_claiming_more_than_the_file_holds_is_refused(tmp_path, claimed):
    path = tmp_path / "day_0_dense.npy"
    np.save(path, np.ones((100, 13), np.float32))
    _claim(path, "(100, 13)", claimed)
    with pytest.raises(DatasetError, match=r"day_0_dense.npy: truncated: header says shape"):
        open_npy(path, np.dtype(np.float32), 13)


@pytest.mark.parametrize("member, claimed", [(0, "(99999999999, 3)"), (25, "(101, 3)"), (7, "(100, 99999999)")])
def test_an_npz_member_claiming_more_than_it_holds_is_refused(tmp_path, member, claimed):
    path = tmp_path / "day_0_sparse_multi_hot.npz"
    arrays = {str(f): np.ones((100, 3), np.int32) for f in range(26)}
    arrays[str(member)] = np.zeros((100, 3), np.int32) + 2  # the member whose header is rewritten
    np.savez(path, **arrays)
    data = path.read_bytes()
    # the member's header follows its local zip header; find its copy of the shape by its position
    import zipfile

    with zipfile.ZipFile(path) as archive:
        offset = archive.getinfo(f"{member}.npy").header_offset
    head, tail = data[:offset], path.with_suffix(".tail")
    tail.write_bytes(data[offset:])
    _claim(tail, "(100, 3)", claimed)
    path.write_bytes(head + tail.read_bytes())
    with pytest.raises(DatasetError, match=rf"day_0_sparse_multi_hot.npz\[{member}.npy\]: truncated: header says"):
        open_multi_hot_npz(path)


@pytest.mark.parametrize("value", [2**31 - 1, 2**63, 10**100, -1, 1.5, "1e9"])
def test_model_size_values_beyond_int32_ids_are_refused_naming_the_field(tmp_path, value):
    path = tmp_path / "model_size.json"
    path.write_text(json.dumps({"_c14": 10, "_c15": value}))
    with pytest.raises(DatasetError, match=r"model_size.json: _c15 is .*expected the largest id"):
        read_table_sizes(path)
