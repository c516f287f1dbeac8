"""Stage 3, per split: pick the split's rows, transform them, and order them.

Numerical: ln(x + 3) in float64 (Spark `log`, which is null for x + 3 <= 0), missing -> 0, then
float32; the writer casts to float16. So x <= -3 is treated like a missing value (0), which is what
the reference Spark code does (its fillna runs after the log). Categorical: the dictionary id, or 0 (looked up by the writer).
Order: split (train, test, validation), then train rows by md5("{seed}:{file name}:{line}") (a seeded random permutation any
implementation can recompute), test/validation rows in input order (file, line).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from preproc.inputs import InputFile
from preproc.options import SplitRule
from preproc.parsing import block_bases, category, read_raw, typed_columns, with_line_numbers
from preproc.schema import NUM_CAT, NUM_INT

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession


def split_of_file(files: Sequence[InputFile], rule: SplitRule) -> list[int | None]:
    """Per file: the split index it feeds entirely (0 train, 1 test, 2 validation), or None if decided per row."""
    if rule.kind == "reference":
        return [0] * (len(files) - 1) + [None]
    if rule.kind == "files":
        return [1 if f.name in rule.test_files else 2 if f.name in rule.validation_files else 0 for f in files]
    return [None] * len(files)


def _hash_unit(text: "Column") -> "Column":
    """md5(text)[:8] as an integer / 2**32: a uniform number in [0, 1)."""
    from pyspark.sql import functions as F

    return F.conv(F.substring(F.md5(text), 1, 8), 16, 10).cast("long") / F.lit(4294967296.0)


def dataset_frame(
    spark: "SparkSession",
    files: Sequence[InputFile],
    rule: SplitRule,
    seed: int,
    last_file_lines: int,
) -> "DataFrame":
    """All output rows, ordered by (split, order within split).

    Columns: split (0/1/2), label, n0..n12 (float32), v0..v25 (the categorical value as an integer,
    int(hex, 16); -1 if missing). One Spark job covers all three splits. The dictionary lookup happens
    in the writer (see writer.py): a sorted-array search per column instead of 26 Spark joins.
    """
    from pyspark.sql import functions as F

    raw = read_raw(spark, [str(f.path) for f in files])
    df = with_line_numbers(spark, raw, block_bases(raw))
    df = df.filter(category(F.col("value"), F.col("fields")).isNull())
    name = F.element_at(F.array(*[F.lit(f.name) for f in files]), F.col("file") + 1)
    line = F.col("line").cast("string")
    fixed = split_of_file(files, rule)
    if rule.kind == "reference":
        last = len(files) - 1
        split = F.when(F.col("file") < last, 0).when(F.col("line") <= last_file_lines // 2, 1).otherwise(2)
    elif rule.kind == "files":
        split = F.element_at(F.array(*[F.lit(v) for v in fixed]), F.col("file") + 1)
    else:
        u = _hash_unit(F.concat(F.lit(f"split:{seed}:"), name, F.lit(":"), line))
        t, v = rule.test_fraction, rule.validation_fraction
        split = F.when(u < t, 1).when(u < t + v, 2).otherwise(0)
    key = F.md5(F.concat(F.lit(f"{seed}:"), name, F.lit(":"), line))
    df = df.select(
        "file", "line", split.cast("int").alias("split"), *typed_columns(F.col("fields"))
    ).withColumn("key", F.when(F.col("split") == 0, key).otherwise(F.lit("")))
    out = [F.col("split"), F.col("label")]
    out += [
        F.coalesce(F.log(F.col(f"i{i}").cast("double") + F.lit(3.0)), F.lit(0.0)).cast("float").alias(f"n{i}")
        for i in range(NUM_INT)
    ]
    out += [F.coalesce(F.conv(F.col(f"c{j}"), 16, 10).cast("long"), F.lit(-1)).alias(f"v{j}") for j in range(NUM_CAT)]
    names = ["split", "label"] + [f"n{i}" for i in range(NUM_INT)] + [f"v{j}" for j in range(NUM_CAT)]
    order = ["split", "key", "file", "line"]
    return df.select("key", "file", "line", *out).orderBy(*order).select(*names)
