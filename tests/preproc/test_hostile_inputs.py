"""Inputs that used to slip through: an empty test day, a truncated .gz, an output hidden inside the input."""

from __future__ import annotations

import gzip
import os

import pytest
from click.testing import CliRunner
from pp_helpers import run_pipeline
from pp_synthetic import make_days

from preproc.cli import preprocess
from preproc.errors import PreprocError


def refused(*args: object) -> str:
    result = CliRunner().invoke(preprocess, [str(a) for a in args])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    return result.output


@pytest.mark.parametrize("how", ["dotdot", "symlink"])
def test_output_inside_input_is_refused_through_dotdot_and_symlinks(tmp_path, how):
    inp = make_days(tmp_path / "in", days=2, rows=5, last_rows=5)
    if how == "dotdot":
        out = tmp_path / "elsewhere" / ".." / "in" / "out"
    else:
        (tmp_path / "link").symlink_to(inp, target_is_directory=True)
        out = tmp_path / "link" / "out"
    text = refused(inp, out, "--skip-preflight")
    assert "is inside the input directory" in text and str(inp / "out") in text
    assert not (inp / "out").exists()


def test_symlinked_input_is_still_compared_by_its_real_location(tmp_path):
    inp = make_days(tmp_path / "in", days=2, rows=5, last_rows=5)
    (tmp_path / "link").symlink_to(inp, target_is_directory=True)
    text = refused(tmp_path / "link", inp / "out", "--skip-preflight")
    assert "is inside the input directory" in text


@pytest.mark.spark
def test_empty_last_day_is_refused_not_an_empty_test_split(spark, tmp_path):
    inp = make_days(tmp_path / "in", days=3, rows=20, last_rows=5)
    (inp / "day_2").write_bytes(b"")  # the test day arrived empty
    with pytest.raises(PreprocError) as err:
        run_pipeline(inp, tmp_path / "out", threshold=2)
    text = str(err.value)
    assert f"input file {inp / 'day_2'} holds 0 valid line(s)" in text and "test and validation" in text
    assert not (tmp_path / "out" / "preprocess.json").exists()


@pytest.mark.spark
def test_empty_test_file_of_a_files_split_is_refused(spark, tmp_path):
    inp = make_days(tmp_path / "in", days=3, rows=20, last_rows=5)
    (inp / "day_0").write_bytes(b"")
    with pytest.raises(PreprocError, match="the test file.s. day_0 hold no valid line"):
        run_pipeline(inp, tmp_path / "out", threshold=2, split="files:day_0")


@pytest.mark.spark
def test_truncated_gzip_is_named_with_its_cause(spark, tmp_path):
    inp = make_days(tmp_path / "in", days=3, rows=400, last_rows=50)
    for name in ("day_0", "day_1"):
        data = gzip.compress((inp / name).read_bytes())
        (inp / f"{name}.gz").write_bytes(data if name == "day_0" else data[: len(data) // 2])
        os.remove(inp / name)
    with pytest.raises(PreprocError) as err:
        run_pipeline(inp, tmp_path / "out", threshold=2)
    text = str(err.value)
    assert text.startswith(f"input file {inp / 'day_1.gz'}: the gzip stream is truncated"), text
    assert "day_0.gz" not in text and "re-download" in text and "java" not in text.lower()
