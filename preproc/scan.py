"""Stage 1, per input file: validate every line, count bad lines, count categorical values.

Outputs per file (under the work directory): `counts/` (parquet: column index, value, count over the
file's valid rows) and `stats.json` (line count, bad-line counts with the first example). The stats file
is written last and marks the file as done.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from preproc import atomic
from preproc.errors import PreprocError
from preproc.inputs import InputFile
from preproc.parsing import BAD_CATEGORIES, bases_from_blocks, category, describe_bad_line, read_raw, typed_columns
from preproc.schema import NUM_CAT

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def scan_file(spark: "SparkSession", f: InputFile, work: Path, policy: str) -> dict[str, Any]:
    """Scan one file; returns its stats. Raises PreprocError under the 'fail' policy if it has bad lines."""
    from pyspark.sql import functions as F

    df = read_raw(spark, [str(f.path)]).withColumn("bad", category(F.col("value")))
    try:
        rows = (
            df.groupBy("blk", "bad")
            .agg(
                F.count(F.lit(1)).alias("n"),
                F.min("mid").alias("m"),
                F.min_by("value", "mid").alias("example"),
            )
            .collect()
        )
    except Exception as exc:  # corrupt gzip, unreadable file, ...
        raise PreprocError(f"input file {f.path}: cannot be read ({_first_line(exc)}); check or re-download it") from None
    blocks: dict[int, list[int]] = {}
    for r in rows:
        b = blocks.setdefault(r["blk"], [0, r["m"]])
        b[0] += r["n"]
        b[1] = min(b[1], r["m"])
    bases = bases_from_blocks([(0, blk, n, m) for blk, (n, m) in blocks.items()])
    lines = sum(n for n, _ in blocks.values())
    bad: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r["bad"] is None:
            continue
        line = r["m"] + bases[(0, r["blk"])]
        entry = bad.setdefault(r["bad"], {"count": 0, "first_line": line, "first_problem": ""})
        entry["count"] += r["n"]
        if line <= entry["first_line"]:
            entry["first_line"] = line
            entry["first_problem"] = describe_bad_line(r["example"])
    bad = {k: bad[k] for k in sorted(bad, key=list(BAD_CATEGORIES).index)}
    stats = {"file": f.record(), "lines": lines, "bad_lines": sum(v["count"] for v in bad.values()), "bad": bad}
    if bad and policy == "fail":
        raise PreprocError(bad_line_message(f, stats) + "\nPass --bad-lines skip to skip (and report) such lines instead.")

    counts_dir = work / "counts"
    tmp = work / "counts.tmp"
    atomic.remove(tmp)
    valid = df.filter(F.col("bad").isNull()).select(typed_columns(F.col("value"))[1 + 13:])
    pairs = F.explode(F.array(*[F.struct(F.lit(j).alias("col"), F.col(f"c{j}").alias("value")) for j in range(NUM_CAT)]))
    (
        valid.select(pairs.alias("p"))
        .select("p.col", "p.value")
        .filter(F.col("value").isNotNull())
        .groupBy("col", "value")
        .agg(F.count(F.lit(1)).alias("count"))
        .write.parquet(str(tmp))
    )
    atomic.remove(counts_dir)
    tmp.rename(counts_dir)
    atomic.write_json(work / "stats.json", stats)
    return stats


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
