"""Stage 2: per-column dictionaries from the summed value counts of all input files.

A value seen at least `threshold` times (over all files, like the reference's days 0-23) gets an id;
ids are 1..N by descending count, ties broken by value ascending (for 8 lowercase hex digits that is
numeric order). Id 0 is reserved for missing, rare and unknown values. Saved as parquet under
OUTPUT/dictionaries/column=_cK/ with columns value (string), id (int), count (long).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from preproc import atomic
from preproc.schema import CAT_KEYS

LOOKUP_GROUP_ENTRIES = 5_000_000

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def build_dictionaries(
    spark: "SparkSession", count_dirs: Sequence[Path], threshold: int, out_dir: Path, tmp_dir: Path
) -> dict[str, int]:
    """Write the dictionaries to `out_dir` (via `tmp_dir` + rename); return model_size (key -> N)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    counts = spark.read.parquet(*[str(d) for d in count_dirs]).filter(F.col("col") >= 0)  # -1: the scan's line stats
    key_of = F.element_at(F.array(*[F.lit(k) for k in CAT_KEYS]), F.col("col") + 1)
    kept = (
        counts.groupBy("col", "value")
        .agg(F.sum("count").alias("count"))
        .filter(F.col("count") >= threshold)
        .withColumn("column", key_of)
        .withColumn("value", F.lpad(F.lower(F.hex(F.col("value"))), 8, "0"))  # back to the input's 8 hex digits
    )
    order = Window.partitionBy("col").orderBy(F.col("count").desc(), F.col("value").asc())
    ranked = kept.withColumn("id", F.row_number().over(order).cast("int")).select("column", "value", "id", "count")
    atomic.remove(tmp_dir)
    ranked.write.partitionBy("column").parquet(str(tmp_dir))
    written = spark.read.parquet(str(tmp_dir))
    sizes = {r["column"]: r["n"] for r in written.groupBy("column").agg(F.max("id").alias("n")).collect()}
    atomic.remove(out_dir)
    tmp_dir.rename(out_dir)
    return {k: int(sizes.get(k, 0)) for k in CAT_KEYS}


def export_lookup(spark: "SparkSession", dict_dir: Path, lookup_dir: Path, model_size: dict[str, int]) -> None:
    """Write per column two .npy arrays: the kept values as int64 (sorted) and their ids (int32).

    The writer maps values to ids with a binary search on these (memory-mapped) arrays, which
    replaces 26 Spark joins. Columns are collected to the driver in groups of at most
    LOOKUP_GROUP_ENTRIES entries (a huge column alone), so the driver never holds everything at once.
    """
    import numpy as np
    from pyspark.sql import functions as F

    lookup_dir.mkdir(parents=True, exist_ok=True)
    dicts = spark.read.parquet(str(dict_dir))
    groups: list[list[str]] = [[]]
    total = 0
    for key in CAT_KEYS:
        if groups[-1] and total + model_size[key] > LOOKUP_GROUP_ENTRIES:
            groups.append([])
            total = 0
        groups[-1].append(key)
        total += model_size[key]
    for keys in groups:
        table = (
            dicts.filter(F.col("column").isin(keys))
            .select("column", F.conv("value", 16, 10).cast("long").alias("v"), F.col("id").cast("int").alias("id"))
            .toArrow()
        )
        column = np.asarray(table.column("column").to_pylist(), dtype=object)
        all_values = table.column("v").to_numpy().astype(np.int64)
        all_ids = table.column("id").to_numpy().astype(np.int32)
        for key in keys:
            mask = column == key
            values, ids = all_values[mask], all_ids[mask]
            order = np.argsort(values, kind="stable")
            for name, arr in (("values", values[order]), ("ids", ids[order])):
                tmp = lookup_dir / f"{key}.{name}.tmp.npy"
                np.save(tmp, arr)
                tmp.rename(lookup_dir / f"{key}.{name}.npy")
