"""Data made by other tools (MLPerf's .npy/.npz days, NVIDIA's .bin files) that changes between runs or during
one is detected, never read short: the run's reader fingerprints every file it opens (size, modification
time, sampled digest: preproc's rule), checks it before every pass and, through a memory map, before every
batch, and the result keeps the fingerprints so that `compare` says when two results read other data."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

from dlrmbench.config.schema import Case
from dlrmbench.data.errors import DatasetError
from dlrmbench.data.watch import data_files
from tests.datasets.dataset_factories import SIZES, binary_dataset as _binary, split_dataset as _split
from tests.dlrmv2.mlperf_files import SMALL_SIZES, write_day


def _npy(root: Path) -> Path:
    for day in range(3):
        write_day(root, day, rows=40, seed=day, multi_hot=True)
    return root


#: reader -> (layout, the case's model block, its dataset options, the file a test changes)
READERS = {
    "mlperf_npy .npy": ("mlperf_npy", _npy, {"table_sizes": SMALL_SIZES}, {"multi_hot": "none"}, "day_0_dense.npy"),
    "mlperf_npy .npz": ("mlperf_npy", _npy, {"table_sizes": SMALL_SIZES}, {"multi_hot": "npz"},
                        "day_1_sparse_multi_hot.npz"),
    "binary (pread)": ("binary", _binary, {}, {"prefetch": 0}, "train_data.bin"),
    "memmap of binary": ("memmap", _binary, {}, {"prefetch": 0}, "train_data.bin"),
    "memmap of split": ("memmap", _split, {}, {"prefetch": 0}, "train/cat_4.bin"),
}


def _open(plugin: str, root: Path, model: dict, options: dict):
    from dlrmbench.workload.build import open_case_data, resolve

    case = Case.model_validate({"name": "c", "device": "cpu", "model": model, "batch_size": 8,
                                "dataset": {"name": plugin, "options": {"path": str(root), **options}}})
    data = open_case_data(resolve(case))
    return data.dataset, data.device


def _rewrite_same_size(path: Path) -> None:
    """Other bytes at the same size, with a later modification time (as a rewrite in place leaves it)."""
    data = bytearray(path.read_bytes())
    for at in range(len(data) - 64, len(data)):  # the end: data, not an array header
        data[at] ^= 0x5A
    before = path.stat().st_mtime_ns
    path.write_bytes(bytes(data))
    os.utime(path, ns=(before + 10**9, before + 10**9))


@pytest.fixture(params=list(READERS))
def opened(request: pytest.FixtureRequest, tmp_path: Path):
    plugin, make, model, options, name = READERS[request.param]
    root = make(tmp_path / "data")
    dataset, device = _open(plugin, root, model, options)
    return dataset, device, root / name


def test_a_file_rewritten_between_epochs_is_refused_naming_it(opened) -> None:
    dataset, device, path = opened
    stream = dataset.batches("train", 8, device)
    assert sum(1 for _ in stream) == len(stream)  # a whole epoch reads
    _rewrite_same_size(path)
    with pytest.raises(DatasetError) as refused:
        for _ in stream:  # the next epoch
            pass
    assert f"{path}: changed since this run opened it (same size, but its content was rewritten after it was " \
           "opened" in refused.value.message
    assert "restore the file and run the case again" in refused.value.message


def test_a_file_truncated_under_the_reader_is_refused_not_read_short(opened) -> None:
    dataset, device, path = opened
    stream = dataset.batches("train", 8, device)
    batches = iter(stream)
    next(batches)
    size = path.stat().st_size
    os.truncate(path, size // 2)  # mid-epoch: a map of it would raise SIGBUS past the new end
    with pytest.raises(DatasetError) as refused:
        for _ in batches:
            pass
    assert f"{path}: changed since this run opened it ({size // 2:,} bytes now, {size:,} when it was opened)" \
        in refused.value.message


def test_a_copy_with_other_times_and_the_same_bytes_is_read(opened) -> None:
    """The split reader's rule: the same size and digest under another modification time is the same file."""
    dataset, device, path = opened
    stream = dataset.batches("train", 8, device)
    first = [b.label.clone() for b in stream]
    os.utime(path, ns=(1, 1))
    again = [b.label.clone() for b in stream]
    assert all(bool((a == b).all()) for a, b in zip(first, again)) and len(first) == len(again)


def test_the_dataset_records_each_file_it_reads_with_its_fingerprint(opened) -> None:
    from preproc.fingerprint import record

    dataset, _, path = opened
    recorded = data_files(dataset)
    root = Path(recorded["path"])
    name = path.relative_to(root).as_posix()
    assert recorded["files"][name] == record(path)
    assert all((root / n).is_file() for n in recorded["files"])


def test_the_npy_reader_refuses_a_day_changed_before_its_test_split_is_read(tmp_path: Path) -> None:
    """The test day is opened again for every evaluation: a change since the run opened it is refused there."""
    root = _npy(tmp_path / "data")
    dataset, device = _open("mlperf_npy", root, {"table_sizes": SMALL_SIZES}, {"multi_hot": "none"})
    labels = root / "day_2_labels.npy"
    np.save(labels, 1 - np.load(labels))  # same shape, other labels
    os.utime(labels, ns=(labels.stat().st_mtime_ns + 10**9,) * 2)
    with pytest.raises(DatasetError, match=f"{labels}: changed since this run opened it"):
        dataset.batches("test", 8, device)


TRUNCATE_UNDER_WATCHED_MAP = """
import os, sys
from pathlib import Path
from dlrmbench.data.errors import DatasetError
from dlrmbench.data.memmap import MemmapSplitFiles
files = MemmapSplitFiles(Path(sys.argv[1]), {sizes})
files.watch_files()  # as a run's reader does
os.truncate(files.paths[1], 0)  # the file shrinks under the map: touching it would raise SIGBUS
try:
    files.read(files.samples - 64, 64)
except DatasetError as exc:
    print(exc.message)
    sys.exit(3)
"""


def test_a_file_truncated_under_a_watched_map_is_refused_before_a_sigbus(tmp_path: Path) -> None:
    """The unwatched map dies of SIGBUS (tests/datasets/test_value_checks.py); the run's reader refuses first."""
    import subprocess
    import sys

    root = _split(tmp_path / "data")
    proc = subprocess.run([sys.executable, "-c", TRUNCATE_UNDER_WATCHED_MAP.format(sizes=SIZES), str(root / "train")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 3, (proc.returncode, proc.stderr)
    size = 200 * 2 * 13
    assert f"{root / 'train' / 'numerical.bin'}: changed since this run opened it (0 bytes now, {size:,} when it " \
           "was opened)" in proc.stdout


@pytest.mark.parametrize("make", [_npy, _binary, _split], ids=["mlperf_npy", "binary", "split"])
def test_inspect_prints_the_fingerprint_a_run_records(tmp_path: Path, make) -> None:
    import json

    from click.testing import CliRunner

    from dlrmbench.cli import make_cli
    from preproc.fingerprint import record

    root = make(tmp_path / "data")
    as_json = CliRunner().invoke(make_cli(), ["dataset", "inspect", str(root), "--json", "--no-scan"])
    assert as_json.exit_code == 0, as_json.output
    report = json.loads(as_json.output)
    files = [(split, f) for split, info in report["splits"].items() for f in info["files"]]
    assert files
    for split, f in files:
        path = next(p for p in (root / f["name"], root / split / f["name"]) if p.is_file())
        assert {k: f[k] for k in ("bytes", "mtime_ns", "digest")} == record(path)
    table = CliRunner().invoke(make_cli(), ["dataset", "inspect", str(root), "--no-scan"], env={"COLUMNS": "200"})
    split, f = files[-1]
    gap = r"[\s│]+"  # the table's column rules
    assert re.search(rf"{split}{gap}{re.escape(f['name'])}{gap}{f['bytes']:,}{gap}\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d"
                     rf"{gap}{f['digest']}", table.output), table.output
