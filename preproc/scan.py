"""Stage 1, per input file (small files in batches): validate every line, count bad lines, count categorical values.

Outputs per file (under the work directory): `counts/` (parquet: column index, value, count over the
file's valid rows) and `stats.json` (line count, bad-line counts with the first example). The stats file
is written last and marks the file as done.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from preproc import atomic
from preproc.errors import PreprocError
from preproc.inputs import InputFile
from preproc.parsing import BAD_CATEGORIES, bases_from_blocks, category, describe_bad_line, read_raw, typed_columns
from preproc.schema import NUM_CAT, NUM_INT

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

#: Small files are scanned together (fewer Spark jobs); a batch holds at most this much raw data.
BATCH_BYTES = 1 << 30


def batches(files: Sequence[InputFile], max_bytes: int = BATCH_BYTES) -> list[list[int]]:
    """Group file indices (in order) so each group holds at most `max_bytes` of raw data (or one file)."""
    groups: list[list[int]] = []
    size = 0
    for i, f in enumerate(files):
        if groups and size + f.estimated_raw_bytes <= max_bytes:
            groups[-1].append(i)
            size += f.estimated_raw_bytes
        else:
            groups.append([i])
            size = f.estimated_raw_bytes
    return groups


def scan_files(
    spark: "SparkSession", files: Sequence[InputFile], work_dirs: Sequence[Path], policy: str, tmp: Path
) -> list[dict[str, Any]]:
    """Scan a batch of files in two Spark jobs; per file write counts/ then stats.json (its done marker).

    Raises PreprocError under the 'fail' policy if any file of the batch has bad lines (nothing written).
    """
    from pyspark.sql import functions as F

    df = read_raw(spark, [str(f.path) for f in files]).withColumn("bad", category(F.col("value"), F.col("fields")))
    try:
        rows = (
            df.groupBy("file", "blk", "bad")
            .agg(F.count(F.lit(1)).alias("n"), F.min("mid").alias("m"), F.min_by("value", "mid").alias("example"))
            .collect()
        )
    except Exception as exc:  # corrupt gzip, unreadable file, ...
        names = ", ".join(str(f.path) for f in files)
        raise PreprocError(f"cannot read input ({names}): {_first_line(exc)}; check or re-download the file") from None
    blocks: dict[tuple[int, int], list[int]] = {}
    for r in rows:
        b = blocks.setdefault((r["file"], r["blk"]), [0, r["m"]])
        b[0] += r["n"]
        b[1] = min(b[1], r["m"])
    bases = bases_from_blocks([(fi, blk, n, m) for (fi, blk), (n, m) in blocks.items()])
    all_stats = []
    for k, f in enumerate(files):
        bad: dict[str, dict[str, Any]] = {}
        for r in rows:
            if r["file"] != k or r["bad"] is None:
                continue
            line = r["m"] + bases[(k, r["blk"])]
            entry = bad.setdefault(r["bad"], {"count": 0, "first_line": line, "first_problem": ""})
            entry["count"] += r["n"]
            if line <= entry["first_line"]:
                entry["first_line"] = line
                entry["first_problem"] = describe_bad_line(r["example"])
        bad = {c: bad[c] for c in sorted(bad, key=list(BAD_CATEGORIES).index)}
        lines = sum(n for (fi, _), (n, _) in blocks.items() if fi == k)
        all_stats.append({"file": f.record(), "lines": lines, "bad_lines": sum(v["count"] for v in bad.values()), "bad": bad})
    if policy == "fail":
        reports = [bad_line_message(f, st) for f, st in zip(files, all_stats) if st["bad"]]
        if reports:
            raise PreprocError("\n".join(reports) + "\nPass --bad-lines skip to skip (and report) such lines instead.")

    atomic.remove(tmp)
    valid = df.filter(F.col("bad").isNull()).select("file", *typed_columns(F.col("fields"))[1 + NUM_INT:])
    pairs = F.explode(F.array(*[F.struct(F.lit(j).alias("col"), F.col(f"c{j}").alias("value")) for j in range(NUM_CAT)]))
    (
        valid.select("file", pairs.alias("p"))
        .select("file", "p.col", "p.value")
        .filter(F.col("value").isNotNull())
        .groupBy("file", "col", "value")
        .agg(F.count(F.lit(1)).alias("count"))
        .write.partitionBy("file")
        .parquet(str(tmp))
    )
    for k, (work, st) in enumerate(zip(work_dirs, all_stats)):
        work.mkdir(parents=True, exist_ok=True)
        src = tmp / f"file={k}"
        atomic.remove(work / "counts")
        if src.exists():
            src.rename(work / "counts")
        else:  # no valid row with a categorical value: an empty counts table
            spark.createDataFrame([], "col int, value string, count long").write.parquet(str(work / "counts"))
        atomic.write_json(work / "stats.json", st)
    atomic.remove(tmp)
    return all_stats


def bad_line_message(f: InputFile, stats: dict[str, Any]) -> str:
    """Human report of a file's bad lines: count per category, first line and what is wrong, the fix."""
    parts = [f"input file {f.path}: {stats['bad_lines']:,} of {stats['lines']:,} lines are bad:"]
    for cat, entry in stats["bad"].items():
        parts.append(
            f"  {cat}: {entry['count']:,} lines, first at line {entry['first_line']}: {entry['first_problem']}"
            f" -- {BAD_CATEGORIES.get(cat, '')}"
        )
    return "\n".join(parts)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
