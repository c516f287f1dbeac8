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
from preproc.parsing import (
    BAD_CATEGORIES,
    block_bases,
    category,
    describe_bad_line,
    read_raw,
    typed_columns,
)
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
    spark: "SparkSession", files: Sequence[InputFile], work_dirs: Sequence[Path], policy: str, tmp: Path,
    block_bytes: int,
) -> list[dict[str, Any]]:
    """Scan a batch of files in one pass; per file write counts/ then stats.json (its done marker).

    Must run inside `parsing.fixed_blocks(spark, block_bytes)` (the block layout is recorded).

    One Spark aggregation yields both the value counts of the valid rows and, per (block, bad-line
    category), the line count and the first line: every row adds one "meta" entry (col = -1) next to
    its 26 categorical values. The text of each first bad line is fetched afterwards (only if any). Raises PreprocError under the 'fail' policy if any
    file of the batch has bad lines (nothing kept).
    """
    from pyspark.sql import functions as F

    atomic.remove(tmp)
    df = read_raw(spark, [str(f.path) for f in files]).withColumn("bad", category(F.col("value"), F.col("fields")))
    valid = F.col("bad").isNull()
    cats = typed_columns(F.col("fields"))[1 + NUM_INT:]
    meta = F.struct(F.lit(-1).alias("col"), F.concat_ws(":", F.col("blk").cast("string"), F.col("bad")).alias("value"),
                    F.col("row").alias("row"))
    entries = [meta] + [
        F.struct(F.lit(j).alias("col"), F.when(valid, c).alias("value"), F.lit(None).cast("long").alias("row"))
        for j, c in enumerate(cats)
    ]
    try:
        _write_counts(df, entries, tmp)
    except Exception as exc:  # corrupt gzip, unreadable file, ...
        atomic.remove(tmp)
        raise unreadable_input(files, exc) from None
    metas = spark.read.parquet(str(tmp)).filter(F.col("col") == -1).collect()
    examples = _first_bad_lines(spark, files, metas)
    all_stats = [_file_stats(f, [r for r in metas if r["file"] == k], block_bytes, examples)
                 for k, f in enumerate(files)]
    if policy == "fail":
        reports = [bad_line_message(f, st) for f, st in zip(files, all_stats) if st["bad"]]
        if reports:
            atomic.remove(tmp)
            raise PreprocError("\n".join(reports) + "\nPass --bad-lines skip to skip (and report) such lines instead.")
    for k, (work, st) in enumerate(zip(work_dirs, all_stats)):
        work.mkdir(parents=True, exist_ok=True)
        src = tmp / f"file={k}"
        atomic.remove(work / "counts")
        if src.exists():
            src.rename(work / "counts")
        else:  # an empty file: an empty counts table
            spark.createDataFrame([], COUNTS_SCHEMA).write.parquet(str(work / "counts"))
        atomic.write_json(work / "stats.json", st)
    atomic.remove(tmp)
    return all_stats


def _write_counts(df: Any, entries: list[Any], tmp: Path) -> None:
    """The scan's one Spark job: explode (meta + 26 values) per row, count per (file, col, value), write parquet.

    Only fixed-width aggregation buffers (count, min): a string buffer (e.g. min_by of the line)
    would turn Spark's hash aggregation into a sort of every exploded row.
    """
    from pyspark.sql import functions as F

    (
        df.select("file", F.explode(F.array(*entries)).alias("p"))
        .select("file", "p.*")
        .filter(F.col("value").isNotNull())
        .groupBy("file", "col", "value")
        .agg(F.count(F.lit(1)).alias("count"), F.min("row").alias("first"))
        .write.partitionBy("file")
        .parquet(str(tmp))
    )


def _first_bad_lines(spark: "SparkSession", files: Sequence[InputFile], metas: Sequence[Any]) -> dict:
    """Text of the first line of each (file, block, bad-line category): {(file, blk, row): line}.

    Bad lines are rare: this reads again only the files that have some, and only when they do.
    """
    from pyspark.sql import functions as F

    wanted = set()
    for r in metas:
        blk, _, bad = r["value"].partition(":")
        if bad:
            wanted.add((r["file"], int(blk), r["first"]))
    if not wanted:
        return {}
    keys = sorted({f for f, _, _ in wanted})
    df = read_raw(spark, [str(files[k].path) for k in keys])
    positions = spark.createDataFrame([(keys.index(f), b, row) for f, b, row in wanted], "file int, blk long, row long")
    found = df.join(F.broadcast(positions), ["file", "blk", "row"]).select("file", "blk", "row", "value").collect()
    return {(keys[r["file"]], r["blk"], r["row"]): r["value"] for r in found}


#: Columns of a file's counts/ table; rows with col = -1 are the scan's per-block line statistics.
COUNTS_SCHEMA = "col int, value string, count long, first long"


def _file_stats(f: InputFile, metas: Sequence[Any], block_bytes: int, examples: dict) -> dict[str, Any]:
    """stats.json of one file from its meta rows (value = "blk:" or "blk:category")."""
    blocks: dict[int, int] = {}
    per_block_bad: list[tuple[int, str, int, int, str]] = []
    for r in metas:
        blk_text, _, bad = r["value"].partition(":")
        blk = int(blk_text)
        blocks[blk] = blocks.get(blk, 0) + r["count"]
        if bad:
            per_block_bad.append((blk, bad, r["count"], r["first"], examples.get((r["file"], blk, r["first"]), "")))
    bases = {b: base for _, b, base, _ in block_bases([(0, b, n) for b, n in blocks.items()])}
    bad: dict[str, dict[str, Any]] = {}
    for blk, cat, n, first, example in sorted(per_block_bad):
        line = bases[blk] + first
        entry = bad.setdefault(cat, {"count": 0, "first_line": line, "first_problem": describe_bad_line(example)})
        entry["count"] += n
    bad = {c: bad[c] for c in sorted(bad, key=list(BAD_CATEGORIES).index)}
    return {
        "file": f.record(),
        "lines": sum(blocks.values()),
        "bad_lines": sum(v["count"] for v in bad.values()),
        "bad": bad,
        "block_bytes": block_bytes,
        "blocks": [[b, blocks[b]] for b in sorted(blocks)],
    }


def unreadable_input(files: Sequence[InputFile], exc: BaseException) -> PreprocError:
    """The error for a Spark read that failed: names the file that is broken and why, when one can be found.

    Spark's own message names the task's file split and a Java class; each file is checked here
    (gzip streams decompressed to the end, plain files opened) to say which one is bad.
    """
    for f in files:
        problem = file_problem(f)
        if problem:
            return PreprocError(f"input file {f.path}: {problem}")
    names = ", ".join(str(f.path) for f in files)
    return PreprocError(f"cannot read input ({names}): {_first_line(exc)}; check or re-download the files")


def file_problem(f: InputFile) -> str | None:
    """What is wrong with reading `f` to its end (None if it reads fine). Bounded memory: streams in 1 MiB steps."""
    import gzip
    import zlib

    try:
        if not f.compressed:
            with open(f.path, "rb") as fh:
                fh.read(1)
            return None
        with gzip.open(f.path, "rb") as fh:
            while fh.read(1 << 20):
                pass
    except EOFError:
        return ("the gzip stream is truncated (it ends before its end-of-stream marker); "
                "the download or copy was cut short: re-download or re-compress the file")
    except (gzip.BadGzipFile, zlib.error) as exc:
        return f"not a valid gzip file ({exc}); re-download it, or remove the .gz suffix if it is plain text"
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    return None


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
