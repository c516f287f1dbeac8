"""The click command: clean refusals (message, non-zero exit, no traceback) before any Spark work."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from pp_synthetic import make_days

from preproc.cli import preprocess

REPO = Path(__file__).resolve().parents[2]


def invoke(*args: str):
    result = CliRunner().invoke(preprocess, [str(a) for a in args])
    assert result.exit_code != 0
    assert "Traceback" not in result.output and not isinstance(result.exception, (KeyError, TypeError, ValueError))
    return result.output


@pytest.fixture
def days(tmp_path):
    return make_days(tmp_path / "in", days=2, rows=5, last_rows=5)


def test_empty_input_dir_is_refused(tmp_path):
    (tmp_path / "in").mkdir()
    out = invoke(tmp_path / "in", tmp_path / "out")
    assert "holds no raw files" in out and "day_0" in out
    assert not (tmp_path / "out").exists()


def test_output_with_other_content_is_refused(days, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    out = invoke(days, tmp_path / "out")
    assert "already holds other files (notes.txt)" in out
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["notes.txt"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--frequency-threshold", "0"], "--frequency-threshold 0: must be at least 1"),
        (["--split", "halves"], "--split 'halves' is not a known rule"),
        (["--split", "fraction:0.7,0.5"], "sum to less than 1"),
        (["--split", "files:day_9"], "no input file named 'day_9'"),
        (["--spark-conf", "driver.memory"], "expected spark.KEY=VALUE"),
        (["--spark-conf", "spark.driver.memory=lots"], "'lots' is not a size"),
        (["--spark-conf", "spark.driver.memory=100000g"], "exceeds this machine's memory"),
        (["--bad-lines", "ignore"], "Invalid value for '--bad-lines'"),
    ],
)
def test_bad_options_are_refused(days, tmp_path, args, message):
    out = invoke(days, tmp_path / "out", *args)
    assert message in out
    assert not (tmp_path / "out").exists()


def test_reference_split_needs_two_files(tmp_path):
    inp = make_days(tmp_path / "in", days=1, rows=5, last_rows=5)
    assert "--split reference needs at least 2 input files" in invoke(inp, tmp_path / "out")


def test_preflight_refuses_when_disk_is_short(days, tmp_path, monkeypatch):
    import shutil as real_shutil

    from preproc import preflight

    monkeypatch.setattr(preflight.shutil, "disk_usage", lambda p: real_shutil._ntuple_diskusage(10, 10, 10))
    out = invoke(days, tmp_path / "out")
    assert "not enough disk" in out and "rows" in out and "spark.local.dir" in out
    assert not (tmp_path / "out").exists()


def test_help_is_fast_and_imports_nothing_heavy():
    code = (
        "import sys, preproc.cli, preproc.pipeline;"
        "bad = [m for m in ('torch', 'dlrmbench', 'pyspark', 'numpy', 'pandas') if m in sys.modules];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)
    out = subprocess.run([sys.executable, "-m", "preproc", "--help"], cwd=REPO, check=True, capture_output=True, text=True)
    assert "INPUT OUTPUT" in out.stdout and "--frequency-threshold" in out.stdout


def test_no_module_imports_dlrmbench_or_torch():
    import re

    for path in (REPO / "preproc").glob("*.py"):
        assert not re.search(r"^\s*(from|import)\s+(dlrmbench|torch)\b", path.read_text(), re.M), path
