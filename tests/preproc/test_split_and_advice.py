"""preprocess says which files became train, test and validation, warns when an evaluation split is tiny,
and tells a file that is not a Criteo log apart from one with a few bad lines (no Spark needed)."""

from __future__ import annotations

from pathlib import Path

from preproc.inputs import InputFile
from preproc.options import parse_split
from preproc.scan import bad_lines_advice
from preproc.split_summary import split_plan


def _files(*names: str) -> list[InputFile]:
    return [InputFile(n, Path("/in") / n, 1, 0) for n in names]


def _stats(*counts: tuple[int, int]) -> list[dict]:
    return [{"lines": lines, "bad_lines": bad} for lines, bad in counts]


def test_reference_split_names_the_files_and_warns_about_a_tiny_last_file():
    files = _files("day_0", "day_1", "sample_100")
    lines, warnings = split_plan(parse_split("reference"), files, _stats((50_000, 0), (40_000, 0), (100, 0)))
    assert lines == ["train: day_0, day_1: 90,000 rows",
                     "test: the first half of sample_100 (the last file by name): about 50 rows",
                     "validation: the second half of sample_100: about 50 rows"]
    assert warnings[0].startswith("the test split gets only about 50 rows (fewer than 10,000): an AUC measured on "
                                  "it is too uncertain to compare")
    assert len(warnings) == 2


def test_large_evaluation_splits_get_no_warning():
    files = _files(*(f"day_{d}" for d in range(24)))
    lines, warnings = split_plan(parse_split("reference"), files, _stats(*[(100_000, 10)] * 24))
    assert lines[0] == "train: day_0 .. day_22 (23 files): 2,299,770 rows" and warnings == []
    lines, warnings = split_plan(parse_split("files:day_23"), files, _stats(*[(100_000, 0)] * 24))
    assert lines == ["train: day_0 .. day_22 (23 files): 2,300,000 rows", "test: day_23: 100,000 rows"]
    lines, warnings = split_plan(parse_split("fraction:0.01,0.01"), files, _stats(*[(1_000, 0)] * 24))
    assert "test about 240, validation about 240 rows" in lines[0] and len(warnings) == 2


def test_a_file_of_only_bad_lines_is_called_not_criteo_not_skippable():
    files = _files("day_0", "README.md")
    advice = bad_lines_advice(files, _stats((1000, 0), (12, 12)))
    assert advice == ("input file /in/README.md: every one of its 12 lines is bad: it is not a Criteo click log "
                      "(a README or another file beside the data?); move it out of the input folder")
    assert "--bad-lines skip" not in advice
    mixed = bad_lines_advice(_files("day_0", "README.md"), _stats((1000, 3), (12, 12)))
    assert mixed.endswith("Pass --bad-lines skip to skip (and report) such lines instead.")
