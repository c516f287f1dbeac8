"""``synthetic`` with ``on: disk``: written once in the split format, read back through the reader."""

from __future__ import annotations

import filecmp
from pathlib import Path

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from dlrmbench.config.schema import Case
from dlrmbench.data.errors import DatasetError
from dlrmbench.data.model_size import write_table_sizes
from dlrmbench.data.split import SplitFiles
from dlrmbench_plugins.datasets._synthetic_impl import SyntheticDataset
from dlrmbench_plugins.datasets.synthetic import SyntheticOptions

SIZES = [5, 200, 40_000] + [7] * 23
CASE = Case(name="c", device="cpu")


def disk(tmp_path: Path, name: str = "syn", **opts: object) -> SyntheticDataset:
    options = SyntheticOptions(on="disk", dir=str(tmp_path / name), train_samples=4096, test_samples=1024,
                               table_sizes=SIZES, **opts)
    return SyntheticDataset(options, CASE)


def test_written_once_in_the_split_format_and_read_back(tmp_path: Path) -> None:
    dataset = disk(tmp_path)
    root = tmp_path / "syn"
    files = SplitFiles(root / "train", SIZES)
    assert files.samples == 4096 and [d.name for d in files.dtypes[:3]] == ["int8", "int16", "int32"]
    raw = files.read(0, 4096)
    batches = list(dataset.batches("train", 1024, torch.device("cpu")))
    assert len(batches) == 4
    assert torch.equal(torch.cat([b.categorical for b in batches]), torch.from_numpy(raw.categorical_matrix()))
    assert torch.equal(torch.cat([b.label for b in batches]), torch.from_numpy(raw.label.astype(np.float32)))
    assert dataset.table_sizes() == SIZES
    stamp = (root / "train" / "cat_2.bin").stat().st_mtime_ns
    disk(tmp_path)  # same options: reused, not rewritten
    assert (root / "train" / "cat_2.bin").stat().st_mtime_ns == stamp
    disk(tmp_path, seed=1)  # other options: rewritten
    assert (root / "train" / "cat_2.bin").stat().st_mtime_ns != stamp


def test_deterministic_by_seed(tmp_path: Path) -> None:
    disk(tmp_path, "a", seed=3)
    disk(tmp_path, "b", seed=3)
    disk(tmp_path, "c", seed=4)
    names = ["label.bin", "numerical.bin"] + [f"cat_{i}.bin" for i in range(26)]
    assert filecmp.cmpfiles(tmp_path / "a/train", tmp_path / "b/train", names, shallow=False)[0] == names
    assert not filecmp.cmp(tmp_path / "a/train/cat_2.bin", tmp_path / "c/train/cat_2.bin", shallow=False)


def test_teacher_labels_depend_on_the_features_random_labels_do_not(tmp_path: Path) -> None:
    def correlation(name: str, labels: str) -> float:
        disk(tmp_path, name, labels=labels, signal=4.0)
        raw = SplitFiles(tmp_path / name / "train", SIZES).read(0, 4096)
        ids, label = raw.categorical_matrix()[:, 0], raw.label.astype(float)
        rates = [label[ids == v].mean() for v in range(5)]  # click rate per id of the 5-row table
        return float(np.ptp(rates))

    assert correlation("t", "teacher") > 0.15
    assert correlation("r", "random") < 0.1


def test_table_sizes_from_a_model_size_json(tmp_path: Path) -> None:
    write_table_sizes(tmp_path / "model_size.json", [4, 9, 300])
    options = SyntheticOptions(on="disk", dir=str(tmp_path / "d"), train_samples=256, test_samples=256,
                               model_size=str(tmp_path / "model_size.json"))
    dataset = SyntheticDataset(options, CASE)
    assert dataset.table_sizes() == [4, 9, 300]
    assert (tmp_path / "d" / "train" / "cat_2.bin").stat().st_size == 256 * 2


def test_refuses_to_overwrite_a_foreign_directory(tmp_path: Path) -> None:
    (tmp_path / "syn").mkdir()
    (tmp_path / "syn" / "precious.txt").write_text("x")
    with pytest.raises(DatasetError, match=r"syn: exists and was not written by the synthetic generator"):
        disk(tmp_path)
    assert (tmp_path / "syn" / "precious.txt").read_text() == "x"


def test_device_only_options_are_refused_on_disk() -> None:
    with pytest.raises(ValidationError, match="distinct_batches applies to on: device only"):
        SyntheticOptions(on="disk", distinct_batches=2)
    with pytest.raises(ValidationError, match="dir applies to on: disk only"):
        SyntheticOptions(dir="/tmp/x")


def test_on_disk_is_written_plainly_in_a_suite() -> None:
    """YAML 1.1 would read the key ``on`` as the boolean true; the suite loader keeps it a string."""
    from dlrmbench.config.loader import load_suite

    loaded = load_suite(Path(__file__).parents[2] / "suites" / "quickstart-disk.yaml")
    options = SyntheticOptions.model_validate(loaded.cases[0].dataset.options)
    assert options.on == "disk" and loaded.cases[0].dataset.options["on"] == "disk"
