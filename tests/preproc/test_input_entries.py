"""Every entry of the input directory is a day file or an error naming it (finding 4 of issue 28):
a folder, a dangling link, a pipe or an unreadable file is never skipped silently, which would have
made another file the test day. Refused before any Spark work."""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner
from pp_synthetic import make_days

from preproc.cli import preprocess


def _folder(p):
    p.mkdir()
    (p / "part-0").write_text("0\t1\n")


ENTRIES = {
    "directory": (_folder, "a directory, not a file"),
    "empty directory": (lambda p: p.mkdir(), "a directory, not a file"),
    "dangling link": (lambda p: p.symlink_to(p.parent / "gone"), "a link to nothing"),
    "pipe": (lambda p: os.mkfifo(p), "not a regular file"),
}


@pytest.mark.parametrize("kind", list(ENTRIES))
def test_an_input_entry_that_is_not_a_file_is_an_error_naming_it(tmp_path, kind):
    inp = make_days(tmp_path / "in", days=3, rows=5, last_rows=5)
    (inp / "day_2").unlink()
    make, message = ENTRIES[kind]
    make(inp / "day_2")
    result = CliRunner().invoke(preprocess, [str(inp), str(tmp_path / "out")])
    assert result.exit_code == 1, result.output  # preprocess refuses with exit 1, as for every input it refuses
    assert f"input entry {inp / 'day_2'}: {message}" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_an_unreadable_input_file_is_an_error_naming_it(tmp_path, monkeypatch):
    inp = make_days(tmp_path / "in", days=2, rows=5, last_rows=5)
    (inp / "day_1").chmod(0)
    real_access = os.access  # root reads every file: ask os.access as an ordinary user would be answered
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p).endswith("day_1") else real_access(p, mode))
    result = CliRunner().invoke(preprocess, [str(inp), str(tmp_path / "out")])
    assert result.exit_code == 1 and "day_1: not readable (permission denied)" in result.output, result.output


def test_hidden_and_underscore_entries_are_still_ignored(tmp_path):
    from preproc.inputs import discover

    inp = make_days(tmp_path / "in", days=2, rows=5, last_rows=5)
    (inp / "_SUCCESS").mkdir()
    (inp / ".cache").mkdir()
    assert [f.name for f in discover(inp)] == ["day_0", "day_1"]
