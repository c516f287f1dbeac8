"""Stage 3: assign every valid line its split and its place in the output, and order the lines.

Spark numbers the lines, decides the split, computes the order key and brings each bucket's lines
together in output order; the writer (writer.py, numpy on Arrow batches) parses them and converts the
values (lines.numerical; the dictionary ids). Order: split (train, test, validation), then train rows
by md5("{seed}:{file name}:{line}") (a seeded random permutation any implementation can recompute),
test/validation rows in input order (file, line).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from preproc.inputs import InputFile
from preproc.options import SplitRule
from preproc.parsing import read_raw, with_line_numbers
from preproc.schema import LINE_PATTERN

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


#: Training rows are cut into this many ordered buckets per shuffle partition (by the leading 32 bits of
#: their md5 key); test and validation rows into one bucket per input block.
BUCKETS_PER_PARTITION = 4


def train_buckets(spark: "SparkSession") -> int:
    """Number of training buckets: a few per shuffle partition, so hash partitioning balances them."""
    return BUCKETS_PER_PARTITION * int(spark.conf.get("spark.sql.shuffle.partitions", "200"))


def dataset_frame(
    spark: "SparkSession",
    files: Sequence[InputFile],
    rule: SplitRule,
    seed: int,
    stats: Sequence[dict],
    n_train: int,
    done_buckets: Sequence[int] = (),
) -> "DataFrame":
    """All output rows, in one read of the input: partitioned by bucket, sorted within partitions.

    Columns: bucket, split (0/1/2), value (the raw line; only valid lines: files the scan found bad lines
    in are filtered with the line regex). Training rows fall into `n_train` buckets (`train_buckets`).
    Buckets are ordered: every row of bucket b comes before every row of bucket b + 1 in the output order (split, then the md5 key for train rows or (file,
    line) for the others), so chunks written per bucket concatenate in bucket order. Hash partitioning
    on the bucket replaces a global sort (which would first sample, i.e. re-read, the whole input).
    Rows of `done_buckets` (chunks kept from an interrupted run) are dropped before the shuffle.
    Parsing and the dictionary lookup happen in the writer (a hash or sorted-array search per column
    instead of 26 joins).
    """
    from pyspark.sql import functions as F

    blocks = [(k, blk, n) for k, st in enumerate(stats) for blk, n in st["blocks"]]
    bad_files = [k for k, st in enumerate(stats) if st["bad_lines"]]
    raw = read_raw(spark, [str(f.path) for f in files])
    df = with_line_numbers(spark, raw, blocks)
    if bad_files:  # only files the scan found bad lines in need the check (under --bad-lines skip)
        df = df.filter(~F.col("file").isin(bad_files) | F.col("value").rlike(LINE_PATTERN))
    name = F.element_at(F.array(*[F.lit(f.name) for f in files]), F.col("file") + 1)
    line = F.col("line").cast("string")
    fixed = split_of_file(files, rule)
    if rule.kind == "reference":
        last = len(files) - 1
        split = F.when(F.col("file") < last, 0).when(F.col("line") <= stats[-1]["lines"] // 2, 1).otherwise(2)
    elif rule.kind == "files":
        split = F.element_at(F.array(*[F.lit(v) for v in fixed]), F.col("file") + 1)
    else:
        u = _hash_unit(F.concat(F.lit(f"split:{seed}:"), name, F.lit(":"), line))
        t, v = rule.test_fraction, rule.validation_fraction
        split = F.when(u < t, 1).when(u < t + v, 2).otherwise(0)
    key = F.md5(F.concat(F.lit(f"{seed}:"), name, F.lit(":"), line))
    n_blocks = len(blocks)
    lead = F.conv(F.substring(F.col("key"), 1, 8), 16, 10).cast("long")
    bucket = (
        F.when(F.col("split") == 0, F.shiftright(lead * F.lit(n_train), 32))
        .otherwise(F.lit(n_train) + (F.col("split") - 1) * F.lit(n_blocks) + F.col("block"))
    )
    df = df.select(
        "file", "line", "row", "block", split.cast("int").alias("split"), "value"
    ).withColumn("key", F.when(F.col("split") == 0, key).otherwise(F.lit("")))
    df = df.withColumn("bucket", bucket.cast("int"))
    # `order`: one long that sorts rows like (bucket, key, file, line), up to ties, which those columns then
    # break. Spark's sorter compares the first sort column's 8-byte prefix and reads whole rows only on a tie;
    # with `bucket` first every comparison inside a bucket read both rows (measured: the transform ~10 % faster).
    # Train rows: bucket, then the md5 key's leading 32 bits (the bucket is monotone in them); test and
    # validation rows: bucket (= input block), then the line's index in its block (capped, ties broken by line).
    within = F.when(F.col("split") == 0, lead).otherwise(F.least(F.col("row"), F.lit((1 << 32) - 1)))
    df = df.withColumn("order", F.shiftleft(F.col("bucket").cast("long"), 32) + within)
    if done_buckets:
        df = df.filter(~F.col("bucket").isin(list(done_buckets)))
    names = ["bucket", "split", "value"]
    partitions = int(spark.conf.get("spark.sql.shuffle.partitions", "200"))
    return (
        df.select("order", "key", "file", "line", *names)
        .repartition(partitions, "bucket")
        .sortWithinPartitions("order", "key", "file", "line")
        .select(*names)
    )
