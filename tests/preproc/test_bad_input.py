"""Malformed raw lines are counted per file and reported; `skip` drops them, `fail` stops; never silent."""

from __future__ import annotations

import random
import shutil

import pytest
from pp_helpers import assert_same_dataset, run_pipeline
from tests.preproc.reference_impl import preprocess as reference
from pp_synthetic import row

from preproc.errors import PreprocError

pytestmark = pytest.mark.spark  # starts (shares) a local Spark session


@pytest.fixture(scope="module")
def bad_input(criteo_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    inp = root / "in"
    inp.mkdir()
    rng = random.Random(9)
    (inp / "a_good").write_text("\n".join(row(rng) for _ in range(60)) + "\n")
    shutil.copy(criteo_data / "format_variants" / "jqsl2012_pytorch_fm_train_1000_trailing_tabs_stripped.txt",
                inp / "b_trailing_tabs")
    shutil.copy(criteo_data / "format_variants" / "ycjuan_train_tiny_kaggle_format.csv", inp / "c_kaggle.csv")
    good = [row(rng) for _ in range(8)]
    f = good[2].split("\t")
    f[3] = "12x"  # non-numeric integer (I3, field 4)
    good[2] = "\t".join(f)
    f = good[4].split("\t")
    f[20] = "zz00ff11"  # non-hex categorical (C7, field 21)
    good[4] = "\t".join(f)
    good[5] = good[5] + "\r"  # CRLF
    good[6] = "2" + good[6][1:]  # label not 0/1
    (inp / "d_handmade").write_text("\n".join(good) + "\n")
    return inp, root


def test_skip_counts_every_bad_line_per_file(spark, bad_input):
    inp, root = bad_input
    messages: list[str] = []
    manifest = run_pipeline(inp, root / "skip", threshold=2, split="fraction:0.2,0.2", bad_lines="skip",
                            messages=messages)
    by_name = {f["name"]: f for f in manifest["inputs"]}
    assert by_name["a_good"]["bad_lines"] == 0
    tabs = by_name["b_trailing_tabs"]
    assert tabs["lines"] == 1000 and tabs["bad"]["field_count"]["count"] == 498
    kaggle = by_name["c_kaggle.csv"]
    assert kaggle["bad"]["header"] == {"count": 1, "first_line": 1, "first_problem": kaggle["bad"]["header"]["first_problem"]}
    assert kaggle["bad"]["crlf"]["count"] == 1999 and kaggle["bad_lines"] == 2000
    hand = by_name["d_handmade"]["bad"]
    assert {k: v["count"] for k, v in hand.items()} == {"crlf": 1, "label": 1, "integer": 1, "categorical": 1}
    assert hand["integer"]["first_line"] == 3 and "field 4 (I3) = '12x'" in hand["integer"]["first_problem"]
    assert hand["categorical"]["first_line"] == 5 and "field 21 (C7)" in hand["categorical"]["first_problem"]
    total = sum(manifest["rows"].values())
    assert total == 60 + 502 + 4
    assert any("b_trailing_tabs" in m and "field_count: 498 lines" in m for m in messages)
    assert any(m.startswith("Warning: input file") and "c_kaggle.csv: every one of its 2,000 lines is bad: it is not "
               "a Criteo click log" in m for m in messages), messages
    at = messages.index("splits (--split fraction:0.2,0.2):")  # which files became which split, before the work
    assert messages[at + 1].startswith("  every file (a_good .. d_handmade (4 files)) split by a hash of file and line")
    reference(inp, root / "ref", threshold=2, split="fraction:0.2,0.2")
    assert_same_dataset(root / "skip", root / "ref")


def test_fail_policy_reports_file_line_and_fix_and_writes_nothing(spark, bad_input):
    inp, root = bad_input
    with pytest.raises(PreprocError) as err:
        run_pipeline(inp, root / "fail", threshold=2, split="fraction:0.2,0.2")
    text = str(err.value)
    assert "b_trailing_tabs: 498 of 1,000 lines are bad" in text
    assert "field_count: 498 lines, first at line" in text and "expected 40" in text
    assert "c_kaggle.csv" in text and "header: 1 lines, first at line 1" in text
    assert "d_handmade" in text and "--bad-lines skip" in text and "a_good" not in text
    assert "c_kaggle.csv: every one of its 2,000 lines is bad: it is not a Criteo click log" in text
    assert sorted(p.name for p in (root / "fail").iterdir()) == ["_work"]
    assert not (root / "fail" / "_work" / "scan").exists()
    # the natural next step, the same command with --bad-lines skip, starts over in the same directory
    manifest = run_pipeline(inp, root / "fail", threshold=2, split="fraction:0.2,0.2", bad_lines="skip")
    assert manifest["bad_line_policy"] == "skip" and sum(manifest["rows"].values()) == 566
