"""Bad dataset files are refused when the dataset is opened, naming file, offset or feature."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from tests.datasets.dataset_factories import SIZES

from dlrmbench.config.schema import Case
from dlrmbench.data.errors import DatasetError
from dlrmbench.errors import UserError
from dlrmbench.host import current_host
from dlrmbench.plugins import get_registry
from dlrmbench.runner.plan import plan
from dlrmbench_plugins.datasets._files_impl import BinaryDataset, MemmapDataset, SplitDataset
from dlrmbench_plugins.datasets.files import MemmapOptions, ReaderOptions


def open_split(root: Path, **case_fields: object) -> SplitDataset:
    return SplitDataset(ReaderOptions(path=str(root)), Case(name="c", device="cpu", **case_fields))


def planning_error(root: Path, dataset: str = "split") -> str:
    case = Case(name="bad-case", device="cpu", dataset={"name": dataset, "options": {"path": str(root)}})
    with pytest.raises(UserError) as info:
        plan([case], current_host(), get_registry())
    return info.value.message


def truncate(path: Path, remove: int) -> None:
    os.truncate(path, path.stat().st_size - remove)


def test_missing_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"nope: no such directory; dataset.options.path"):
        open_split(tmp_path / "nope")
    assert "case bad-case: dataset split:" in planning_error(tmp_path / "nope")


def test_empty_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"empty: empty directory; expected model_size.json"):
        open_split(tmp_path / "empty")
    assert "empty directory" in planning_error(tmp_path / "empty", "binary")


def test_missing_model_size_json_is_refused(split_dataset: tuple[Path, dict]) -> None:
    root, _ = split_dataset
    (root / "model_size.json").unlink()
    with pytest.raises(DatasetError, match=r"model_size.json: missing"):
        open_split(root)
    assert "model_size.json: missing" in planning_error(root)


@pytest.mark.parametrize("text, message", [
    ("{not json", r"model_size.json: not valid JSON"),
    ("[1, 2]", r"model_size.json: expected a non-empty JSON object .* found list"),
    ('{"_c14": 5, "_c16": 7}', r"model_size.json: key 1 is '_c16', expected '_c15'"),
    ('{"_c14": -1}', r"model_size.json: _c14 is -1; expected the largest id"),
    ('{"_c14": "9"}', r"model_size.json: _c14 is '9'"),
])
def test_malformed_model_size_json_is_refused(split_dataset: tuple[Path, dict], text: str, message: str) -> None:
    root, _ = split_dataset
    (root / "model_size.json").write_text(text)
    with pytest.raises(DatasetError, match=message):
        open_split(root)


def test_truncated_feature_file_names_file_and_counts(split_dataset: tuple[Path, dict]) -> None:
    root, _ = split_dataset
    truncate(root / "train" / "cat_4.bin", 8)  # int32 feature: 2 samples short
    with pytest.raises(DatasetError) as info:
        open_split(root)
    message = info.value.message
    assert "train: feature files disagree on the sample count" in message
    assert "cat_4.bin holds 998 samples (3992 bytes, 4 bytes/sample), expected 1000" in message
    assert "cat_4.bin holds 998" in planning_error(root)


def test_feature_files_of_different_sample_counts(split_dataset: tuple[Path, dict]) -> None:
    root, _ = split_dataset
    (root / "test" / "label.bin").write_bytes(b"\x01" * 299)
    (root / "test" / "cat_0.bin").write_bytes(b"\x00" * 301)
    with pytest.raises(DatasetError) as info:
        open_split(root)
    assert "label.bin holds 299 samples" in info.value.message
    assert "cat_0.bin holds 301 samples" in info.value.message
    assert "expected 300" in info.value.message


def test_partial_sample_in_a_split_file(split_dataset: tuple[Path, dict]) -> None:
    root, _ = split_dataset
    truncate(root / "train" / "numerical.bin", 3)
    with pytest.raises(DatasetError, match=r"numerical.bin: size 25997 bytes is not a whole number of 26-byte "
                                           r"samples \(999 samples and 23 bytes at offset 25974"):
        open_split(root)


def test_cat_file_written_with_another_dtype_rule_gets_a_hint(tmp_path: Path, split_dataset: tuple[Path, dict]) -> None:
    root, data = split_dataset
    ids = data["train"][2][:, 2]  # table size 127: int16 here, int8 under the raw-max-id rule
    (root / "train" / "cat_2.bin").write_bytes(ids.astype(np.int8).tobytes())
    with pytest.raises(DatasetError, match=r"cat_2.bin holds 500 samples .* 1 bytes per sample would match: "
                                           r"written with another dtype rule\? table size 127 means int16"):
        open_split(root)


def test_binary_size_not_a_whole_number_of_records(binary_dataset: tuple[Path, dict]) -> None:
    root, _ = binary_dataset
    truncate(root / "train_data.bin", 100)
    message = (r"train_data.bin: size 159900 bytes is not a whole number of 160-byte records: 999 records "
               r"and 60 bytes left over at offset 159840")
    with pytest.raises(DatasetError, match=message):
        BinaryDataset(ReaderOptions(path=str(root)), Case(name="c", device="cpu"))
    assert "160-byte records" in planning_error(root, "binary")


def test_split_id_at_its_table_size_is_refused_on_open(split_dataset: tuple[Path, dict]) -> None:
    root, _ = split_dataset
    ids = np.fromfile(root / "train" / "cat_1.bin", dtype=np.int8)
    ids[417] = 126  # table size 126: ids 0..125
    ids.tofile(root / "train" / "cat_1.bin")
    with pytest.raises(DatasetError) as info:
        open_split(root)
    assert str(root / "train" / "cat_1.bin") in info.value.message
    assert ("feature 1 (_c15) sample 417 (byte offset 417): id 126 is at or above its table size 126; "
            "expected ids in [0, 125]") in info.value.message


def test_binary_id_above_the_table_size_names_the_byte_offset(binary_dataset: tuple[Path, dict]) -> None:
    root, _ = binary_dataset
    records = np.fromfile(root / "test_data.bin", dtype="<i4").reshape(-1, 40)
    records[12, 14 + 5] = 100_000  # feature 5, table size 100000
    records.tofile(root / "test_data.bin")
    with pytest.raises(DatasetError, match=r"test_data.bin: feature 5 \(_c19\) sample 12 \(byte offset 1996\): "
                                           r"id 100000 is at or above its table size 100000"):
        MemmapDataset(MemmapOptions(path=str(root)), Case(name="c", device="cpu"))


def test_ids_are_checked_against_the_model_table_sizes(split_dataset: tuple[Path, dict]) -> None:
    root, _ = split_dataset
    smaller = list(SIZES)
    smaller[5] = 50_000
    with pytest.raises(DatasetError, match=r"feature 5 \(_c19\).*at or above its table size 50000"):
        open_split(root, model={"table_sizes": smaller})
    open_split(root, model={"table_sizes": smaller[:5] + [1] + smaller[6:], "hash_indices": True})  # folded: fine


def test_a_bad_label_is_refused(binary_dataset: tuple[Path, dict]) -> None:
    root, _ = binary_dataset
    records = np.fromfile(root / "train_data.bin", dtype="<i4").reshape(-1, 40)
    records[3, 0] = 7
    records.tofile(root / "train_data.bin")
    with pytest.raises(DatasetError, match=r"train_data.bin: label of sample 3 \(byte offset 480\) is 7; expected 0 or 1"):
        BinaryDataset(ReaderOptions(path=str(root)), Case(name="c", device="cpu"))


def test_wrong_format_is_named(binary_dataset: tuple[Path, dict]) -> None:
    root, _ = binary_dataset
    assert "holds a binary dataset, not a split one; use dataset: binary" in planning_error(root, "split")


def test_a_good_dataset_plans_and_opens(split_dataset: tuple[Path, dict]) -> None:
    root, _ = split_dataset
    case = Case(name="ok", device="cpu", dataset={"name": "split", "options": {"path": str(root)}})
    assert plan([case], current_host(), get_registry())[0].runnable
    dataset = open_split(root)
    assert dataset.table_sizes() == SIZES
    assert dataset.scans["train"].samples == 1000
    assert json.loads((root / "model_size.json").read_text())["_c19"] == 99_999


def test_binary_without_any_table_sizes_is_refused_at_planning(binary_dataset: tuple[Path, dict]) -> None:
    root, _ = binary_dataset
    (root / "model_size.json").unlink()
    assert "no model_size.json, and the case sets no model.table_sizes" in planning_error(root, "binary")
    case = Case(name="ok", device="cpu", model={"table_sizes": SIZES},
                dataset={"name": "binary", "options": {"path": str(root)}})
    assert plan([case], current_host(), get_registry())[0].runnable
