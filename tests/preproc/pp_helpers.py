"""Shared helpers of the preproc tests: running the pipeline in-process and comparing outputs."""

from __future__ import annotations

import filecmp
from pathlib import Path

from preproc.options import PreprocOptions, parse_split
from preproc.pipeline import run

BIN_FILES = ["label.bin", "numerical.bin"] + [f"cat_{j}.bin" for j in range(26)]


def run_pipeline(inp: Path, out: Path, threshold: int = 15, split: str = "reference", seed: int = 0,
                 bad_lines: str = "fail", keep_work: bool = False, messages: list | None = None) -> dict:
    opts = PreprocOptions(inp, out, threshold, parse_split(split), seed, bad_lines, keep_work)
    sink = messages if messages is not None else []
    return run(opts, spark_conf={"spark.driver.memory": "2g"}, echo=sink.append)


def assert_same_dataset(got: Path, expected: Path) -> None:
    assert (got / "model_size.json").read_text() == (expected / "model_size.json").read_text()
    for split in ("train", "test", "validation"):
        for name in BIN_FILES:
            a, b = got / split / name, expected / split / name
            assert a.stat().st_size == b.stat().st_size, f"{split}/{name}: size differs"
            assert filecmp.cmp(a, b, shallow=False), f"{split}/{name}: bytes differ"
