"""Reading raw day files with Spark: line numbering, validation and typed columns.

Every line gets a 1-based line number without a driver-side pass over the data: Spark reads a file
in blocks, `monotonically_increasing_id` numbers the rows of each block contiguously, and a small
aggregate per (file, block) turns (block, id) into the line number. Bad lines are classified by
one category (the first check that fails) so they can be counted and reported, never dropped silently.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Sequence

from preproc.schema import CAT_PATTERN, FIELD_NAMES, INT_PATTERN, LINE_PATTERN, NUM_CAT, NUM_FIELDS, NUM_INT

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

#: Bad-line categories in the order they are checked, with the fix shown to the user.
BAD_CATEGORIES: dict[str, str] = {
    "header": "a header line (Kaggle-style CSV?); convert to raw tab-separated lines without header",
    "crlf": "CRLF line ending; convert the file to LF endings (e.g. `sed -i 's/\\r$//' FILE`)",
    "field_count": f"wrong number of fields (expected {NUM_FIELDS} tab-separated fields)",
    "label": "the label is not 0 or 1",
    "integer": "an integer field (I1..I13) is not a decimal integer",
    "categorical": "a categorical field (C1..C26) is not 8 lowercase hex digits",
}

_INT_RE = re.compile(rf"^{INT_PATTERN}\Z")
_CAT_RE = re.compile(rf"^{CAT_PATTERN}\Z")


def describe_bad_line(text: str) -> str:
    """Say in words what is wrong with one raw line (pure Python; used for messages only)."""
    if re.match(r'(?i)^"?(id|label)\b', text):
        return f"header line {text[:60]!r}"
    if text.endswith("\r"):
        return "line ends with CR (CRLF line ending)"
    fields = text.split("\t")
    if len(fields) != NUM_FIELDS:
        return f"{len(fields)} tab-separated fields, expected {NUM_FIELDS}"
    if fields[0] not in ("0", "1"):
        return f"field 1 (label) = {fields[0][:20]!r}, expected 0 or 1"
    for i in range(1, 1 + NUM_INT):
        if fields[i] and not _INT_RE.match(fields[i]):
            return f"field {i + 1} ({FIELD_NAMES[i]}) = {fields[i][:20]!r} is not an integer"
    for i in range(1 + NUM_INT, NUM_FIELDS):
        if fields[i] and not _CAT_RE.match(fields[i]):
            return f"field {i + 1} ({FIELD_NAMES[i]}) = {fields[i][:20]!r} is not 8 lowercase hex digits"
    return "valid"


def read_raw(spark: "SparkSession", paths: Sequence[str]) -> "DataFrame":
    """Raw lines of several files (one scan), with file index, block start and a per-block row id.

    `lineSep` is set to LF so a CR stays in the line and CRLF files are detected, not hidden.
    The file index is the position in `paths` (looked up by file name; names are unique in one
    input directory). The result must be consumed by the same plan that computes `block_bases`.
    """
    from pyspark.sql import functions as F

    names = [p.rsplit("/", 1)[-1] for p in paths]
    index = F.create_map(*[x for i, n in enumerate(names) for x in (F.lit(n), F.lit(i))])
    return (
        spark.read.option("lineSep", "\n")
        .text(list(paths))
        .select(
            index[F.col("_metadata.file_name")].alias("file"),
            F.col("_metadata.file_block_start").alias("blk"),
            F.col("value"),
        )
        .withColumn("mid", F.monotonically_increasing_id())
        .withColumn("fields", F.split(F.col("value"), "\t", -1))
    )


def category(value: "Column", arr: "Column") -> "Column":
    """Spark column: null for a valid line, else the name of the first failed check (`arr` = the fields)."""
    from pyspark.sql import functions as F

    int_bad = [~((arr[i] == "") | arr[i].rlike(f"^{INT_PATTERN}\\z")) for i in range(1, 1 + NUM_INT)]
    cat_bad = [~((arr[i] == "") | arr[i].rlike(f"^{CAT_PATTERN}\\z")) for i in range(1 + NUM_INT, NUM_FIELDS)]
    any_int_bad = int_bad[0]
    for c in int_bad[1:]:
        any_int_bad = any_int_bad | c
    any_cat_bad = cat_bad[0]
    for c in cat_bad[1:]:
        any_cat_bad = any_cat_bad | c
    detail = (
        F.when(value.rlike(r'(?i)^"?(id|label)\b'), F.lit("header"))
        .when(value.endswith("\r"), F.lit("crlf"))
        .when(F.size(arr) != NUM_FIELDS, F.lit("field_count"))
        .when(~arr[0].isin("0", "1"), F.lit("label"))
        .when(any_int_bad, F.lit("integer"))
        .when(any_cat_bad, F.lit("categorical"))
        .otherwise(F.lit("unknown"))
    )
    return F.when(value.rlike(LINE_PATTERN), F.lit(None).cast("string")).otherwise(detail)


def typed_columns(arr: "Column") -> list["Column"]:
    """Spark columns `label` (tinyint), `i0..i12` (bigint, null = missing), `c0..c25` (string, null = missing).

    `arr` is the `fields` column of `read_raw`: splitting once there (a separate projection that Spark
    does not inline, split being expensive) avoids re-splitting the line for each of the 40 fields.
    """
    from pyspark.sql import functions as F

    cols = [arr[0].try_cast("tinyint").alias("label")]
    cols += [F.when(arr[1 + i] == "", None).otherwise(arr[1 + i].try_cast("long")).alias(f"i{i}") for i in range(NUM_INT)]
    cols += [
        F.when(arr[1 + NUM_INT + j] == "", None).otherwise(arr[1 + NUM_INT + j]).alias(f"c{j}") for j in range(NUM_CAT)
    ]
    return cols


def block_bases(df: "DataFrame") -> dict[tuple[int, int], int]:
    """Map (file, block start) -> the value to add to `mid` to get the 1-based line number."""
    from pyspark.sql import functions as F

    rows = df.groupBy("file", "blk").agg(F.count(F.lit(1)).alias("n"), F.min("mid").alias("m")).collect()
    return bases_from_blocks([(r["file"], r["blk"], r["n"], r["m"]) for r in rows])


def bases_from_blocks(blocks: Sequence[tuple[int, int, int, int]]) -> dict[tuple[int, int], int]:
    """(file, blk, rows, min id) per block -> base per block so that line = id + base (1-based)."""
    bases: dict[tuple[int, int], int] = {}
    offset: dict[int, int] = {}
    for file, blk, n, m in sorted(blocks):
        start = offset.get(file, 0)
        bases[(file, blk)] = start + 1 - m
        offset[file] = start + n
    return bases


def with_line_numbers(spark: "SparkSession", df: "DataFrame", bases: dict[tuple[int, int], int]) -> "DataFrame":
    """Add the 1-based `line` column using the bases computed from the same plan."""
    from pyspark.sql import functions as F

    table = spark.createDataFrame([(f, b, base) for (f, b), base in bases.items()], "file int, blk long, base long")
    return df.join(F.broadcast(table), ["file", "blk"]).withColumn("line", F.col("mid") + F.col("base")).drop("base")
