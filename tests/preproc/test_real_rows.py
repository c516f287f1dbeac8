"""On real Criteo rows the Spark output equals the independent reference implementation byte for byte."""

from __future__ import annotations

import gzip
import json
import shutil

import numpy as np
import pytest
from pp_helpers import assert_same_dataset, run_pipeline
from tests.preproc.reference_impl import preprocess as reference

pytestmark = pytest.mark.spark  # starts (shares) a local Spark session

FILES = [
    "autoint_train_examples_head10k.txt",
    "paddlerec_part0_100.txt",
    "deepctr_criteo_sample_200_reconstructed.txt",
    "deepfm_pytorch_optimization_test_10k_reconstructed.txt",
]


def make_input(criteo_data, tmp_path):
    inp = tmp_path / "in"
    inp.mkdir()
    for i, name in enumerate(FILES):
        data = (criteo_data / name).read_bytes()
        if i == 1:  # one gzip-compressed day
            (inp / f"day_{i}.gz").write_bytes(gzip.compress(data))
        else:
            (inp / f"day_{i}").write_bytes(data)
    return inp


def test_real_rows_match_reference_bytes(spark, criteo_data, tmp_path):
    inp = make_input(criteo_data, tmp_path)
    manifest = run_pipeline(inp, tmp_path / "spark", threshold=4)
    ref_sizes = reference(inp, tmp_path / "ref", threshold=4)
    assert_same_dataset(tmp_path / "spark", tmp_path / "ref")
    assert manifest["rows"] == {"train": 10300, "test": 5000, "validation": 5000}
    sizes = json.loads((tmp_path / "spark" / "model_size.json").read_text())
    assert list(sizes) == [f"_c{k}" for k in range(14, 40)] and sizes == ref_sizes
    # the format contract, checked directly: label bytes, fp16 of ln(x+3), ids within the table
    label = np.fromfile(tmp_path / "spark" / "test" / "label.bin", dtype=np.uint8)
    assert set(np.unique(label)) <= {0, 1} and label.mean() > 0.1
    first = (criteo_data / FILES[3]).read_text().split("\n")[0].split("\t")
    num = np.fromfile(tmp_path / "spark" / "test" / "numerical.bin", dtype="<f2").reshape(-1, 13)
    want = [np.float16(np.float32(np.log(int(v) + 3))) if v else np.float16(0) for v in first[1:14]]
    assert num[0].tolist() == [float(w) for w in want]
    for j, key in enumerate(sizes):
        ids = np.fromfile(tmp_path / "spark" / "train" / f"cat_{j}.bin", dtype=manifest["cat_dtypes"][j])
        assert ids.min() >= 0 and ids.max() <= sizes[key]
    assert (tmp_path / "spark" / "dictionaries").is_dir() and not (tmp_path / "spark" / "_work").exists()


def test_fraction_split_and_seed_match_reference(spark, criteo_data, tmp_path):
    inp = tmp_path / "in"
    inp.mkdir()
    shutil.copy(criteo_data / FILES[2], inp / "sample.txt")
    run_pipeline(inp, tmp_path / "spark", threshold=2, split="fraction:0.2,0.1", seed=7)
    reference(inp, tmp_path / "ref", threshold=2, split="fraction:0.2,0.1", seed=7)
    assert_same_dataset(tmp_path / "spark", tmp_path / "ref")


def test_binary_search_lookup_for_large_columns_gives_the_same_bytes(spark, criteo_data, tmp_path, monkeypatch):
    """Columns above the hash-index size limit are looked up by binary search: same ids, same bytes."""
    from preproc import writer

    monkeypatch.setattr(writer, "HASH_LOOKUP_MAX_ENTRIES", 20)  # most columns here have more kept values
    inp = tmp_path / "in"
    inp.mkdir()
    shutil.copy(criteo_data / FILES[0], inp / "day_0")
    shutil.copy(criteo_data / FILES[3], inp / "day_1")
    run_pipeline(inp, tmp_path / "spark", threshold=2)
    sizes = json.loads((tmp_path / "spark" / "model_size.json").read_text())
    assert min(sizes.values()) <= 20 < max(sizes.values())  # both paths ran
    reference(inp, tmp_path / "ref", threshold=2)
    assert_same_dataset(tmp_path / "spark", tmp_path / "ref")
