"""Data that changed since it was made is refused, naming the file and the fix, never used short: preprocess
records a fingerprint of every split file it writes (size, modification time, sampled digest); the readers
(run's, through the planner and the worker, and `dataset inspect`) and a rerun of preprocess check it."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

from dlrmbench.data.errors import DatasetError
from dlrmbench.data.open import open_source, table_sizes
from dlrmbench.data.split import file_names
from dlrmbench.data.validation.inspect import inspect_dataset
from preproc.errors import PreprocError
from preproc.state import MANIFEST, check_outputs_unchanged, output_records
from tests.datasets.dataset_factories import SIZES


@pytest.fixture
def made(split_dataset: tuple[Path, dict]) -> Path:
    """A split dataset with the manifest preprocess writes (its ``outputs`` record)."""
    root, _ = split_dataset
    (root / MANIFEST).write_text(json.dumps({"format": "dlrm-split-v1", "outputs": output_records(root)}))
    return root


def _refusals(root: Path) -> list[str]:
    """What run's reader and `dataset inspect` say of the train split."""
    with pytest.raises(DatasetError) as reader:
        open_source(root, "split", "train", table_sizes(root, "split"))
    problems = inspect_dataset(root, scan=False)["problems"]
    with pytest.raises(PreprocError) as rerun:
        check_outputs_unchanged(root)
    return [reader.value.message, *problems, str(rerun.value)]


def _shorten_every_file(split: Path, samples: int) -> None:
    """Cut every file of a split by the same number of samples: the files still agree with each other."""
    for name in file_names(len(SIZES)):
        path = split / name
        per_sample = path.stat().st_size // 1000
        os.truncate(path, path.stat().st_size - samples * per_sample)


def test_a_split_shortened_since_it_was_made_is_refused_naming_the_file(made: Path) -> None:
    _shorten_every_file(made / "train", 100)
    for message in _refusals(made):
        assert re.search(re.escape(str(made / "train")) + r"/(label|cat_\d+)\.bin: changed since", message), message
        assert "900 bytes now, 1,000 when it was made" in message  # one-byte samples: labels, small tables
    assert "restore the file" in _refusals(made)[0]


def test_a_file_rewritten_in_place_with_other_bytes_is_refused(made: Path) -> None:
    path = made / "train" / "cat_1.bin"
    data = bytearray(path.read_bytes())
    data[0] ^= 0x01
    path.write_bytes(bytes(data))  # same size, new modification time
    for message in _refusals(made):
        assert f"{path}: changed since" in message and "content was rewritten" in message, message


def test_a_copy_that_did_not_keep_times_is_accepted(made: Path) -> None:
    for path in (made / "train").iterdir():
        os.utime(path, ns=(1, 1))  # as cp without -p leaves it: other times, same bytes
    open_source(made, "split", "train", table_sizes(made, "split")).close()
    assert inspect_dataset(made, scan=False)["problems"] == []
    check_outputs_unchanged(made)


def test_a_manifest_without_fingerprints_is_read_as_before(split_dataset: tuple[Path, dict]) -> None:
    root, _ = split_dataset
    (root / MANIFEST).write_text(json.dumps({"format": "dlrm-split-v1", "rows": {"train": 1000}}))
    _shorten_every_file(root / "train", 100)  # nothing recorded to compare with
    open_source(root, "split", "train", table_sizes(root, "split")).close()


def _format_md_digest(data: bytes) -> str:
    """preproc/FORMAT.md's rule, computed here from the bytes: blake2b (16 bytes) over the decimal size and 8
    blocks of 64 KiB, the first at 0, the last ending at the end, the rest evenly between (or the whole file)."""
    import hashlib

    size, block = len(data), 64 << 10
    digest = hashlib.blake2b(str(size).encode(), digest_size=16)
    if size <= 8 * block:
        digest.update(data)
    else:
        for i in range(8):
            start = (size - block) * i // 7
            digest.update(data[start:start + block])
    return digest.hexdigest()


@pytest.mark.parametrize("size", [0, 100, 8 * 65536, 8 * 65536 + 1, 3_000_001])
def test_the_recorded_fingerprint_follows_the_documented_rule(tmp_path: Path, size: int) -> None:
    """The record preprocess writes and the split reader checks is FORMAT.md's rule, computed independently."""
    from preproc import fingerprint as writer

    path = tmp_path / "f.bin"
    path.write_bytes(np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes())
    stat = path.stat()
    assert writer.record(path) == {"bytes": size, "mtime_ns": stat.st_mtime_ns,
                                   "digest": _format_md_digest(path.read_bytes())}
    rewritten = bytearray(path.read_bytes())
    if size:
        rewritten[-1] ^= 0xFF  # in the last block, which the rule samples
        path.write_bytes(bytes(rewritten))
        os.utime(path, ns=(5, 5))
        assert writer.change(path, writer.record(path)) is None
        assert _format_md_digest(bytes(rewritten)) == writer.sampled_digest(path)
