"""Generated 24-day input: the reference split, dictionary ordering, the threshold boundary, resume."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from pp_helpers import assert_same_dataset, run_pipeline
from tests.preproc.reference_impl import preprocess as reference
from pp_synthetic import THRESHOLD, make_days

pytestmark = pytest.mark.spark  # starts (shares) a local Spark session


@pytest.fixture(scope="module")
def multiday(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("multiday")
    inp = make_days(root / "in")
    messages: list[str] = []
    manifest = run_pipeline(inp, root / "out", threshold=THRESHOLD, seed=5, keep_work=True, messages=messages)
    reference(inp, root / "ref", threshold=THRESHOLD, seed=5)
    return inp, root, manifest


def test_reference_split_counts_and_bytes(multiday):
    inp, root, manifest = multiday
    assert manifest["rows"] == {"train": 23 * 40, "test": 20, "validation": 21}
    assert_same_dataset(root / "out", root / "ref")
    for split, n in manifest["rows"].items():
        assert (root / "out" / split / "numerical.bin").stat().st_size == 26 * n
    # test/validation keep input order: the label bytes are day_23's labels, first half then second half
    labels = [int(line.split("\t")[0]) for line in (inp / "day_23").read_text().splitlines()]
    assert list((root / "out" / "test" / "label.bin").read_bytes()) == labels[:20]
    assert list((root / "out" / "validation" / "label.bin").read_bytes()) == labels[20:]
    # train rows are shuffled: not the input order
    train_labels = [int(line.split("\t")[0]) for d in range(23) for line in (inp / f"day_{d}").read_text().splitlines()]
    assert list((root / "out" / "train" / "label.bin").read_bytes()) != train_labels


def test_dictionary_order_ties_and_threshold(multiday):
    _, root, manifest = multiday
    d = pd.read_parquet(root / "out" / "dictionaries" / "column=_c14")
    ids = dict(zip(d["value"], d["id"]))
    # descending count; the tie (12 each) is broken by value ascending; count == threshold kept, below dropped
    assert ids == {"000000ff": 1, "00000001": 2, "00000002": 3, "0000000a": 4}
    assert json.loads((root / "out" / "model_size.json").read_text())["_c14"] == 4
    assert manifest["cat_dtypes"][0] == "<i1"
    everything = np.concatenate(
        [np.fromfile(root / "out" / s / "cat_0.bin", dtype=np.int8) for s in ("train", "test", "validation")]
    )
    assert np.bincount(everything, minlength=5)[1:].tolist() == [30, 12, 12, THRESHOLD]


def test_resume_skips_finished_work_and_redoes_half_written(multiday, spark):
    inp, root, _ = multiday
    out = root / "out"
    # an interruption during the last split's write: marker gone, file truncated, temp debris left behind
    (out / "preprocess.json").unlink()
    (out / "_work" / "assembled_validation.json").unlink()
    data = (out / "validation" / "label.bin").read_bytes()
    (out / "validation" / "label.bin").write_bytes(data[:5])
    (out / "validation" / "numerical.bin.tmp").write_bytes(b"junk")
    messages: list[str] = []
    run_pipeline(inp, out, threshold=THRESHOLD, seed=5, messages=messages)
    text = "\n".join(messages)
    assert "resuming" in text and "24 of 24 files already scanned, skipped" in text
    assert "[2/4 dictionaries]: already done, skipped" in text and "[3/4 transform]: already done, skipped" in text
    assert "[4/4 write train]: already done, skipped" in text and "[4/4 write validation]: done" in text
    assert_same_dataset(out, root / "ref")
    assert not (out / "_work").exists()
    # complete: a rerun does nothing; other options are refused
    again: list[str] = []
    run_pipeline(inp, out, threshold=THRESHOLD, seed=5, messages=again)
    assert any("nothing to do" in m for m in again)
    from preproc.errors import PreprocError

    with pytest.raises(PreprocError, match="different frequency_threshold"):
        run_pipeline(inp, out, threshold=THRESHOLD + 1, seed=5)


def test_interrupted_scan_is_redone(spark, tmp_path):
    inp = make_days(tmp_path / "in", days=3, rows=10, last_rows=10, seed=3)
    out = tmp_path / "out"
    run_pipeline(inp, out, threshold=1, keep_work=True)
    # a scan that died after writing counts but before its stats marker, and a dead temp dir
    (out / "preprocess.json").unlink()
    for marker in ("dictionaries", "chunks", "assembled_train", "assembled_test", "assembled_validation"):
        (out / "_work" / f"{marker}.json").unlink()
    (out / "_work" / "scan" / "0001" / "stats.json").unlink()
    (out / "_work" / "scan.tmp").mkdir()
    messages: list[str] = []
    run_pipeline(inp, out, threshold=1, messages=messages)
    assert "[1/4 scan] 2 of 3 files already scanned, skipped" in "\n".join(messages)
    reference(inp, tmp_path / "ref", threshold=1)
    assert_same_dataset(out, tmp_path / "ref")


def test_many_blocks_per_file_number_lines_like_one(spark, tmp_path, monkeypatch):
    """Files read in many blocks: line numbers (split halves, hash split, shuffle keys, bad-line reports)
    come out as if each file were read whole."""
    from preproc import parsing

    monkeypatch.setattr(parsing, "BLOCK_BYTES", 4096)
    inp = make_days(tmp_path / "in", days=3, rows=200, last_rows=151, seed=4)
    lines = (inp / "day_1").read_text().split("\n")
    lines[119] = "1\tbad"  # line 120, far into the file (a later block)
    (inp / "day_1").write_text("\n".join(lines))
    for split in ("reference", "fraction:0.2,0.1"):
        out = tmp_path / split.replace(":", "_").replace(",", "_")
        manifest = run_pipeline(inp, out, threshold=2, split=split, bad_lines="skip", keep_work=True)
        day1 = manifest["inputs"][1]
        assert day1["bad_lines"] == 1 and day1["bad"]["field_count"]["first_line"] == 120
        reference(inp, tmp_path / f"ref_{out.name}", threshold=2, split=split)
        assert_same_dataset(out, tmp_path / f"ref_{out.name}")
    stats = json.loads((tmp_path / "reference" / "_work" / "scan" / "0000" / "stats.json").read_text())
    assert len(stats["blocks"]) > 5 and sum(n for _, n in stats["blocks"]) == 200


def test_interrupted_transform_keeps_its_finished_chunks(spark, tmp_path):
    inp = make_days(tmp_path / "in", days=4, rows=60, last_rows=40, seed=6)
    out = tmp_path / "out"
    run_pipeline(inp, out, threshold=2, keep_work=True)
    # stopped during the transform: no chunks marker, some chunks never renamed into place, temp debris
    (out / "preprocess.json").unlink()
    for marker in ("chunks", "assembled_train", "assembled_test", "assembled_validation"):
        (out / "_work" / f"{marker}.json").unlink()
    chunks = sorted((out / "_work" / "chunks").glob("bucket-*"))
    assert len(chunks) > 4
    for d in chunks[::2]:
        shutil.rmtree(d)
    (out / "_work" / "chunks" / ".bucket-00000003.deadbeef").mkdir()
    messages: list[str] = []
    run_pipeline(inp, out, threshold=2, messages=messages)
    text = "\n".join(messages)
    assert f"[3/4 transform] {len(chunks[1::2])} chunk(s)" in text and "kept from the interrupted run" in text
    reference(inp, tmp_path / "ref", threshold=2)
    assert_same_dataset(out, tmp_path / "ref")
