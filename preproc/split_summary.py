"""What the split rule makes of the input files, said before the work starts: which files become train,
test and validation (and about how many rows each), with a warning when an evaluation split is tiny.

A default ``--split reference`` on a folder whose last file (by name) is a 100-row sample makes a 50-row
test set, and an AUC from 50 rows is noise; printing the assignment makes that visible at once.
"""

from __future__ import annotations

from typing import Any, Sequence

from preproc.inputs import InputFile
from preproc.options import SplitRule

#: Below this many rows an evaluation split's AUC is too uncertain to compare (about +-0.01 at 95%).
MIN_EVALUATION_ROWS = 10_000


def _names(files: Sequence[InputFile]) -> str:
    if not files:
        return "(none)"
    if len(files) <= 3:
        return ", ".join(f.name for f in files)
    return f"{files[0].name} .. {files[-1].name} ({len(files)} files)"


def split_plan(rule: SplitRule, files: Sequence[InputFile], stats: Sequence[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """(lines describing each split, warnings for tiny evaluation splits); rows are valid lines, estimated
    where the rule decides per row."""
    valid = {f.name: st["lines"] - st["bad_lines"] for f, st in zip(files, stats)}
    total = sum(valid.values())
    rows: dict[str, int]
    if rule.kind == "reference":
        last, train = files[-1], list(files[:-1])
        half = valid[last.name] // 2
        rows = {"train": total - valid[last.name], "test": half, "validation": valid[last.name] - half}
        lines = [f"train: {_names(train)}: {rows['train']:,} rows",
                 f"test: the first half of {last.name} (the last file by name): about {rows['test']:,} rows",
                 f"validation: the second half of {last.name}: about {rows['validation']:,} rows"]
    elif rule.kind == "files":
        test = [f for f in files if f.name in rule.test_files]
        validation = [f for f in files if f.name in rule.validation_files]
        train = [f for f in files if f not in test and f not in validation]
        rows = {"train": sum(valid[f.name] for f in train), "test": sum(valid[f.name] for f in test),
                "validation": sum(valid[f.name] for f in validation)}
        lines = [f"train: {_names(train)}: {rows['train']:,} rows", f"test: {_names(test)}: {rows['test']:,} rows"]
        if validation:
            lines.append(f"validation: {_names(validation)}: {rows['validation']:,} rows")
    else:
        rows = {"test": round(total * rule.test_fraction), "validation": round(total * rule.validation_fraction)}
        rows["train"] = total - rows["test"] - rows["validation"]
        lines = [f"every file ({_names(files)}) split by a hash of file and line: train about {rows['train']:,}, "
                 f"test about {rows['test']:,}, validation about {rows['validation']:,} rows"]
    warnings = [
        f"the {split} split gets only about {n:,} rows (fewer than {MIN_EVALUATION_ROWS:,}): an AUC measured on "
        f"it is too uncertain to compare; give more rows to it (--split files:... or --split fraction:...)"
        for split, n in rows.items() if split != "train" and 0 < n < MIN_EVALUATION_ROWS
    ]
    return lines, warnings
