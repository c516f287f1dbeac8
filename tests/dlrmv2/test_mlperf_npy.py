"""The MLPerf preprocessed Criteo layout: splits, batches, multi-hot (npz and generated), bad files."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from dlrmbench.data.errors import DatasetError
from dlrmbench_plugins.datasets._mlperf_npy_impl import MlperfNpyDataset
from dlrmbench.batch import SparseFeatures
from dlrmbench_plugins.datasets._multihot import multi_hot_tables
from dlrmbench_plugins.datasets.mlperf_npy import MlperfNpyOptions
from tests.dlrmv2.mlperf_files import SMALL_HOTNESS, SMALL_SIZES, write_day


class _Model:
    table_sizes = SMALL_SIZES


class _Case:
    name, mode, model = "c", "train", _Model()


def _dataset(root, **options) -> MlperfNpyDataset:
    return MlperfNpyDataset(MlperfNpyOptions(path=str(root), **options), _Case())


def reference_multi_hot_tables(sizes, hotness, dist):
    """The reference's Multihot.__make_multi_hot_indices_tables, restated (global np.random.seed(0))."""
    np.random.seed(0)
    out = []
    for rows, h in zip(sizes, hotness):
        ids = np.arange(rows)[:, np.newaxis]
        if dist == "uniform":
            extra = np.random.randint(0, rows, size=(rows, h - 1))
        else:
            with np.errstate(invalid="ignore", over="ignore"):
                extra = np.random.pareto(a=0.25, size=(rows, h - 1)).astype(np.int32) % rows
        out.append(np.concatenate((ids, extra), axis=-1))
    return out


@pytest.mark.parametrize("dist", ["uniform", "pareto"])
def test_generated_tables_equal_the_reference_method(dist) -> None:
    ours = multi_hot_tables(SMALL_SIZES, SMALL_HOTNESS, dist)
    for a, b in zip(ours, reference_multi_hot_tables(SMALL_SIZES, SMALL_HOTNESS, dist)):
        assert a.dtype == np.int32 and np.array_equal(a, b)


def test_splits_batches_and_one_hot_ids(tmp_path) -> None:
    d0, d1 = write_day(tmp_path, 0, 10, seed=1), write_day(tmp_path, 1, 9, seed=2)
    from dlrmbench.config.variants import dataset_of

    assert dataset_of(tmp_path) == ("mlperf_npy", None)
    data = _dataset(tmp_path, multi_hot="none")
    train = data.batches("train", 4, torch.device("cpu"))
    batches = list(train)
    assert len(train) == len(batches) == 3 and [b.size for b in batches] == [4, 4, 2]  # partial last batch kept
    torch.testing.assert_close(torch.cat([b.numerical for b in batches]), torch.from_numpy(d0["dense"]))
    expected_ids = d0["sparse"].astype(np.int64) % np.array(SMALL_SIZES)
    assert torch.equal(torch.cat([b.categorical for b in batches]), torch.from_numpy(expected_ids))
    test = list(data.batches("test", 100, torch.device("cpu")))
    assert len(test) == 1 and test[0].size == 5  # first ceil(9 / 2) rows of the last day
    assert torch.equal(test[0].label, torch.from_numpy(d1["labels"][:5, 0].astype(np.float32)))


def test_batches_run_across_days(tmp_path) -> None:
    write_day(tmp_path, 0, 3, seed=1), write_day(tmp_path, 1, 4, seed=2), write_day(tmp_path, 2, 2, seed=3)
    sizes = [b.size for b in _dataset(tmp_path, multi_hot="none").batches("train", 5, torch.device("cpu"))]
    assert sizes == [5, 2]


def test_npz_multi_hot_ids_are_read_and_hashed(tmp_path) -> None:
    d0 = write_day(tmp_path, 0, 6, seed=1, multi_hot=True)
    write_day(tmp_path, 1, 4, seed=2, multi_hot=True)
    data = _dataset(tmp_path, multi_hot_sizes=SMALL_HOTNESS)
    assert data.mode == "npz"
    batch = next(iter(data.batches("train", 6, torch.device("cpu"))))
    ids = batch.categorical
    assert isinstance(ids, SparseFeatures) and list(ids.hotness) == SMALL_HOTNESS
    for f in (0, 20):
        assert torch.equal(ids.feature(f)[0], torch.from_numpy(d0[f"mh{f}"].astype(np.int64) % SMALL_SIZES[f]))
    assert ids.values.numel() == 6 * sum(SMALL_HOTNESS)


def test_generated_multi_hot_follows_the_one_hot_id(tmp_path) -> None:
    d0 = write_day(tmp_path, 0, 5, seed=1)
    write_day(tmp_path, 1, 4, seed=2)
    data = _dataset(tmp_path, multi_hot_sizes=SMALL_HOTNESS)
    assert data.mode == "generate"
    batch = next(iter(data.batches("train", 5, torch.device("cpu"))))
    tables = reference_multi_hot_tables(SMALL_SIZES, SMALL_HOTNESS, "uniform")
    ids = d0["sparse"].astype(np.int64) % np.array(SMALL_SIZES)
    for f in (0, 4, 20):
        per_feature = batch.categorical.feature(f)[0]
        assert np.array_equal(per_feature.numpy(), tables[f][ids[:, f]])
        assert np.array_equal(per_feature[:, 0].numpy(), ids[:, f])  # column 0 is the one-hot id


@pytest.mark.parametrize("breakage, message", [
    (lambda r: np.save(r / "day_0_dense.npy", np.zeros((6, 13), np.float64)), "day_0_dense.npy: dtype float64"),
    (lambda r: np.save(r / "day_0_sparse.npy", np.zeros((6, 25), np.int32)), r"day_0_sparse.npy: shape \(6, 25\)"),
    (lambda r: np.save(r / "day_0_labels.npy", np.zeros((5, 1), np.int32)), "day_0_dense.npy: 6 rows, but"),
    (lambda r: (r / "day_0_dense.npy").unlink(), "day_0_dense.npy: missing"),
    (lambda r: (r / "day_0_dense.npy").write_bytes((r / "day_0_dense.npy").read_bytes()[:-8]), "truncated"),
    (lambda r: (r / "day_0_labels.npy").write_bytes(b"garbage"), "not a valid .npy"),
])
def test_bad_files_are_refused_naming_file_and_field(tmp_path, breakage, message) -> None:
    write_day(tmp_path, 0, 6, seed=1), write_day(tmp_path, 1, 4, seed=2)
    breakage(tmp_path)
    with pytest.raises(DatasetError, match=message):
        list(_dataset(tmp_path, multi_hot="none").batches("train", 4, torch.device("cpu")))


def test_nan_dense_and_bad_labels_are_refused_with_row(tmp_path) -> None:
    write_day(tmp_path, 0, 6, seed=1), write_day(tmp_path, 1, 4, seed=2)
    dense = np.load(tmp_path / "day_0_dense.npy")
    dense[4, 7] = np.nan
    np.save(tmp_path / "day_0_dense.npy", dense)
    with pytest.raises(DatasetError, match=r"day_0_dense.npy: dense feature 7 of row 4 is nan"):
        list(_dataset(tmp_path, multi_hot="none").batches("train", 4, torch.device("cpu")))
    np.save(tmp_path / "day_0_dense.npy", np.zeros((6, 13), np.float32))
    labels = np.load(tmp_path / "day_0_labels.npy")
    labels[2] = 7
    np.save(tmp_path / "day_0_labels.npy", labels)
    with pytest.raises(DatasetError, match=r"day_0_labels.npy: label of row 2 is 7"):
        list(_dataset(tmp_path, multi_hot="none").batches("train", 4, torch.device("cpu")))


def test_bad_npz_is_refused(tmp_path) -> None:
    write_day(tmp_path, 0, 6, seed=1, multi_hot=True), write_day(tmp_path, 1, 4, seed=2, multi_hot=True)
    members = {str(f): np.zeros((6, h), np.int32) for f, h in enumerate(SMALL_HOTNESS)}
    np.savez_compressed(tmp_path / "day_0_sparse_multi_hot.npz", **members)
    with pytest.raises(DatasetError, match=r"day_0_sparse_multi_hot.npz\[0.npy\]: compressed"):
        list(_dataset(tmp_path, multi_hot="npz").batches("train", 4, torch.device("cpu")))
    del members["5"]
    np.savez(tmp_path / "day_0_sparse_multi_hot.npz", **members)
    with pytest.raises(DatasetError, match="member 5.npy missing"):
        list(_dataset(tmp_path, multi_hot="npz").batches("train", 4, torch.device("cpu")))
    members["5"] = np.zeros((6, 2), np.int32)
    np.savez(tmp_path / "day_0_sparse_multi_hot.npz", **members)
    with pytest.raises(DatasetError, match=r"\[5.npy\]: hotness 2, but multi_hot_sizes\[5\] is 1"):
        list(_dataset(tmp_path, multi_hot="npz").batches("train", 4, torch.device("cpu")))
    assert zipfile.is_zipfile(tmp_path / "day_0_sparse_multi_hot.npz")


def test_dataset_inspect_recognises_the_layout(tmp_path) -> None:
    from dlrmbench.cli import make_cli

    write_day(tmp_path, 0, 6, seed=1), write_day(tmp_path, 1, 4, seed=2)
    result = CliRunner().invoke(make_cli(), ["dataset", "inspect", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["format"] == "mlperf_npy" and report["splits"]["train"]["samples"] == 6
    assert report["splits"]["test"]["samples"] == 2
    labels = np.load(tmp_path / "day_0_labels.npy")
    assert report["splits"]["train"]["label_rate"] == pytest.approx(labels.mean())
    dense = np.load(tmp_path / "day_0_dense.npy")
    dense[0, 0] = np.inf
    np.save(tmp_path / "day_0_dense.npy", dense)
    result = CliRunner().invoke(make_cli(), ["dataset", "inspect", str(tmp_path)])
    assert result.exit_code == 1 and "day_0_dense.npy: 1 dense values are NaN or inf" in result.output


def test_dataset_path_points_a_case_at_the_layout(tmp_path) -> None:
    from dlrmbench.config.variants import assign_datasets
    from tests.workload.helpers import tiny_case

    write_day(tmp_path, 0, 6, seed=1), write_day(tmp_path, 1, 4, seed=2)
    cases, notes = assign_datasets([tiny_case()], [tmp_path])
    assert notes == [] and cases[0].dataset.name == "mlperf_npy"
    assert cases[0].dataset.options == {"path": str(tmp_path)}


def test_dataset_path_goes_to_a_case_that_takes_its_table_sizes_from_the_data(tmp_path) -> None:
    """suites/criteo-sample.yaml has no model.table_sizes: the one --dataset-path given is its data."""
    import json as _json

    from dlrmbench.config.variants import assign_datasets
    from tests.workload.helpers import tiny_case

    (tmp_path / "train").mkdir()
    (tmp_path / "test").mkdir()
    (tmp_path / "model_size.json").write_text(_json.dumps({f"_c{14 + i}": 4 for i in range(3)}))
    case = tiny_case(model={"table_sizes": None})
    cases, notes = assign_datasets([case], [tmp_path])
    assert notes == [] and cases[0].dataset.name == "split"
