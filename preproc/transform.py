"""Stage 3, per split: pick the split's rows, transform them, and order them.

Numerical: ln(x + 3) in float64 (Spark `log`, which is null for x + 3 <= 0), missing -> 0, then
float32; the writer casts to float16. So x <= -3 is treated like a missing value (0), which is what
the reference Spark code does (its fillna runs after the log). Categorical: the dictionary id, or 0.
Order: train rows by md5("{seed}:{file name}:{line}") (a seeded random permutation any
implementation can recompute), test/validation rows in input order (file, line).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from preproc.dictionaries import load_dictionary
from preproc.inputs import InputFile
from preproc.options import SplitRule
from preproc.parsing import block_bases, category, read_raw, typed_columns, with_line_numbers
from preproc.schema import CAT_KEYS, NUM_CAT, NUM_INT

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession


def split_files(files: Sequence[InputFile], rule: SplitRule, split: str) -> list[InputFile]:
    """The input files that can hold rows of `split` under `rule`."""
    if rule.kind == "reference":
        return list(files[:-1]) if split == "train" else [files[-1]]
    if rule.kind == "files":
        named = {"test": rule.test_files, "validation": rule.validation_files}
        if split == "train":
            taken = set(rule.test_files) | set(rule.validation_files)
            return [f for f in files if f.name not in taken]
        return [f for f in files if f.name in named[split]]
    return list(files)


def _hash_unit(text: "Column") -> "Column":
    """md5(text)[:8] as an integer / 2**32: a uniform number in [0, 1)."""
    from pyspark.sql import functions as F

    return F.conv(F.substring(F.md5(text), 1, 8), 16, 10).cast("long") / F.lit(4294967296.0)


def split_frame(
    spark: "SparkSession",
    files: Sequence[InputFile],
    rule: SplitRule,
    split: str,
    seed: int,
    last_file_lines: int,
    dict_dir: Path,
) -> "DataFrame":
    """The ordered output rows of one split: label, n0..n12 (float), k0..k25 (int)."""
    from pyspark.sql import functions as F

    raw = read_raw(spark, [str(f.path) for f in files])
    df = with_line_numbers(spark, raw, block_bases(raw))
    df = df.filter(category(F.col("value")).isNull())
    name = F.element_at(F.array(*[F.lit(f.name) for f in files]), F.col("file") + 1)
    line = F.col("line").cast("string")
    if rule.kind == "reference" and split != "train":
        half = last_file_lines // 2
        df = df.filter(F.col("line") <= half) if split == "test" else df.filter(F.col("line") > half)
    elif rule.kind == "fraction":
        u = _hash_unit(F.concat(F.lit(f"split:{seed}:"), name, F.lit(":"), line))
        t, v = rule.test_fraction, rule.validation_fraction
        cond = {"test": u < t, "validation": (u >= t) & (u < t + v), "train": u >= t + v}[split]
        df = df.filter(cond)
    df = df.select(
        "file", "line", F.md5(F.concat(F.lit(f"{seed}:"), name, F.lit(":"), line)).alias("key"),
        *typed_columns(F.col("value")),
    )
    for j in range(NUM_CAT):
        d = load_dictionary(spark, dict_dir, CAT_KEYS[j])
        df = df.join(d.withColumnRenamed("value", f"c{j}").withColumnRenamed("id", f"k{j}"), f"c{j}", "left")
    order = ["key", "file", "line"] if split == "train" else ["file", "line"]
    out = [F.col("label")]
    out += [
        F.coalesce(F.log(F.col(f"i{i}").cast("double") + F.lit(3.0)), F.lit(0.0)).cast("float").alias(f"n{i}")
        for i in range(NUM_INT)
    ]
    out += [F.coalesce(F.col(f"k{j}"), F.lit(0)).cast("int").alias(f"k{j}") for j in range(NUM_CAT)]
    names = ["label"] + [f"n{i}" for i in range(NUM_INT)] + [f"k{j}" for j in range(NUM_CAT)]
    return df.select(*order, *out).orderBy(*order).select(*names)
