"""Reading raw day files with Spark: line numbering and the bad-line categories.

Every line gets a 1-based line number without a separate pass over the data. Spark reads each file in
blocks of exactly BLOCK_BYTES (`fixed_blocks` sets both `maxPartitionBytes` and `openCostInBytes` to it,
which makes the split size independent of the number of files and cores, and gives each block its own
partition); a gzip file is one block. The row index inside a partition (the low 33 bits of
`monotonically_increasing_id`) is then the line's index inside its block. The scan counts the lines
of every block once (stats.json); later stages add the lines of the file's earlier blocks.
Lines are validated and parsed in numpy (lines.py); the few invalid ones are classified here, by one
category (the first check that fails), so they can be counted and reported, never dropped silently.
"""

from __future__ import annotations

import re
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Sequence

from preproc.schema import CAT_PATTERN, FIELD_NAMES, INT_PATTERN, LINE_PATTERN, NUM_FIELDS, NUM_INT
from preproc.session import spark_settings

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


#: Bytes per input block (one Spark partition each). Recorded in stats.json; line numbers need the
#: scan and the transform to read with the same value.
BLOCK_BYTES = 128 << 20
#: monotonically_increasing_id = partition index << 33 | row index inside the partition.
ROW_BITS = 33


def fixed_blocks(spark: "SparkSession", block_bytes: int) -> "AbstractContextManager[None]":
    """Read files in blocks of exactly `block_bytes`, one block per partition (restores the settings after)."""
    keys = ("spark.sql.files.maxPartitionBytes", "spark.sql.files.openCostInBytes")
    return spark_settings(spark, {k: str(block_bytes) for k in keys})


def read_raw(spark: "SparkSession", paths: Sequence[str]) -> "DataFrame":
    """Raw lines of several files (one scan): file index, block start, index of the line in its block.

    `lineSep` is set to LF so a CR stays in the line and CRLF files are detected, not hidden.
    The file index is the position in `paths` (looked up by file name; names are unique in one
    input directory). Must run inside `fixed_blocks` (one block per partition).
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
            F.monotonically_increasing_id().bitwiseAND(F.lit((1 << ROW_BITS) - 1)).alias("row"),
        )
    )


def category(value: "Column", arr: "Column") -> "Column":
    """Spark column: null for a valid line, else the name of the first failed check (`arr` = its split fields)."""
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


def block_bases(blocks: Sequence[tuple[int, int, int]]) -> list[tuple[int, int, int, int]]:
    """(file, blk, lines) per block -> (file, blk, base, lines): line = row + base (1-based), in block order."""
    out: list[tuple[int, int, int, int]] = []
    offset: dict[int, int] = {}
    for file, blk, n in sorted(blocks):
        start = offset.get(file, 0)
        out.append((file, blk, start + 1, n))
        offset[file] = start + n
    return out


def with_line_numbers(
    spark: "SparkSession", df: "DataFrame", blocks: Sequence[tuple[int, int, int]]
) -> "DataFrame":
    """Add the 1-based `line` and the block's ordinal `block` (in (file, blk) order) from the scan's counts.

    A row whose index is past its block's counted lines (the file changed, or Spark split it otherwise)
    fails the job instead of numbering lines wrongly.
    """
    from pyspark.sql import functions as F

    rows = [(f, b, base, n, k) for k, (f, b, base, n) in enumerate(block_bases(blocks))]
    table = spark.createDataFrame(rows, "file int, blk long, base long, n long, block int")
    joined = df.join(F.broadcast(table), ["file", "blk"], "left")
    check = F.when(F.col("n").isNull() | (F.col("row") >= F.col("n")),
                   F.raise_error(F.lit("input block layout differs from the scan's; the input changed? "
                                       "delete OUTPUT/_work and rerun")))
    return joined.withColumn("line", F.coalesce(check.cast("long"), F.col("row") + F.col("base"))).drop("base", "n")
