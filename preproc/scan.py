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
from preproc.parsing import BAD_CATEGORIES, block_bases, category, describe_bad_line, read_raw
from preproc.schema import LINE_PATTERN
from preproc.session import arrow_batches, ship_by_value

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

    One Spark job reads the lines and hands them, in Arrow batches, to `batch_counts.count_partition`
    (numpy: validation, value counts, line counts per block); Spark sums the partitions' counts and
    writes them per file. Only when some lines are invalid does a second, small job classify them
    (parsing.category) and fetch the first of each kind. Raises PreprocError under the 'fail' policy
    if any file of the batch has bad lines (nothing kept).
    """
    from pyspark.sql import functions as F

    from preproc.batch_counts import COUNT_COLUMNS, INVALID, LINES, count_partition  # numpy: not at import

    atomic.remove(tmp)
    ship_by_value()
    df = read_raw(spark, [str(f.path) for f in files]).select("file", "blk", "value")
    try:
        with arrow_batches(spark):
            (
                df.mapInArrow(count_partition, COUNT_COLUMNS)
                .groupBy("file", "col", "value")
                .agg(F.sum("count").alias("count"))
                .write.partitionBy("file")
                .parquet(str(tmp))
            )
    except Exception as exc:  # corrupt gzip, unreadable file, ...
        atomic.remove(tmp)
        raise unreadable_input(files, exc) from None
    metas = spark.read.parquet(str(tmp)).filter(F.col("col") < 0).collect()
    lines = {(r["file"], r["value"]): r["count"] for r in metas if r["col"] == LINES}
    invalid = {(r["file"], r["value"]): r["count"] for r in metas if r["col"] == INVALID}
    bad = _classify_bad_lines(spark, files, invalid) if invalid else []
    examples = _first_bad_lines(spark, files, bad)
    all_stats = [
        _file_stats(f, {b: n for (k2, b), n in lines.items() if k2 == k}, [x for x in bad if x[0] == k],
                    block_bytes, examples)
        for k, f in enumerate(files)
    ]
    if policy == "fail":
        reports = [bad_line_message(f, st) for f, st in zip(files, all_stats) if st["bad"]]
        if reports:
            atomic.remove(tmp)
            raise PreprocError("\n".join(reports) + "\n" + bad_lines_advice(files, all_stats))
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


def _classify_bad_lines(
    spark: "SparkSession", files: Sequence[InputFile], invalid: dict[tuple[int, int], int]
) -> list[tuple[int, int, str, int, int]]:
    """(file, blk, category, count, first row) of the invalid lines, by the SQL rules of parsing.category.

    Reads again only the files that have invalid lines. The per-block totals must equal the scan's
    (two independent validators: the numpy one and the line regex); a difference is a bug, not bad input.
    """
    from pyspark.sql import functions as F

    keys = sorted({k for k, _ in invalid})
    df = read_raw(spark, [str(files[k].path) for k in keys])
    fields = F.split(F.col("value"), "\t", -1)
    rows = (
        df.filter(~F.col("value").rlike(LINE_PATTERN))
        .groupBy("file", "blk", category(F.col("value"), fields).alias("bad"))
        .agg(F.count(F.lit(1)).alias("count"), F.min("row").alias("first"))
        .collect()
    )
    out = [(keys[r["file"]], r["blk"], r["bad"], r["count"], r["first"]) for r in rows]
    totals: dict[tuple[int, int], int] = {}
    for k, blk, _, n, _ in out:
        totals[(k, blk)] = totals.get((k, blk), 0) + n
    if totals != invalid:
        differ = sorted(set(totals.items()) ^ set(invalid.items()))[:3]
        raise PreprocError(f"internal error: the two line checks count different invalid lines, ((file, block), "
                           f"lines): {differ}; please report this with the input file")
    return out


def _first_bad_lines(
    spark: "SparkSession", files: Sequence[InputFile], bad: Sequence[tuple[int, int, str, int, int]]
) -> dict[tuple[int, int, int], str]:
    """Text of the first line of each (file, block, bad-line category): {(file, blk, row): line}.

    Bad lines are rare: this reads again only the files that have some, and only when they do.
    """
    from pyspark.sql import functions as F

    wanted = {(k, blk, first) for k, blk, _, _, first in bad}
    if not wanted:
        return {}
    keys = sorted({f for f, _, _ in wanted})
    df = read_raw(spark, [str(files[k].path) for k in keys])
    positions = spark.createDataFrame([(keys.index(f), b, row) for f, b, row in wanted], "file int, blk long, row long")
    found = df.join(F.broadcast(positions), ["file", "blk", "row"]).select("file", "blk", "row", "value").collect()
    return {(keys[r["file"]], r["blk"], r["row"]): r["value"] for r in found}


#: Columns of a file's counts/ table: categorical column, value (the 8 hex digits as a number), count;
#: rows with col < 0 are the scan's per-block line statistics (batch_counts.LINES / INVALID).
COUNTS_SCHEMA = "col int, value long, count long"


def _file_stats(
    f: InputFile, blocks: dict[int, int], bad_rows: Sequence[tuple[int, int, str, int, int]], block_bytes: int,
    examples: dict,
) -> dict[str, Any]:
    """stats.json of one file: lines per block, bad lines per category (count, first line, what is wrong)."""
    bases = {b: base for _, b, base, _ in block_bases([(0, b, n) for b, n in blocks.items()])}
    bad: dict[str, dict[str, Any]] = {}
    for k, blk, cat, n, first in sorted(bad_rows, key=lambda x: (x[1], x[4])):
        line = bases[blk] + first
        entry = bad.setdefault(cat, {"count": 0, "first_line": line,
                                     "first_problem": describe_bad_line(examples.get((k, blk, first), ""))})
        entry["count"] += n
    bad = {c: bad[c] for c in sorted(bad, key=list(BAD_CATEGORIES).index)}
    return {
        "file": f.record(),
        "lines": sum(blocks.values()),
        "bad_lines": sum(v["count"] for v in bad.values()),
        "bad": bad,
        "block_bytes": block_bytes,
        "scan_format": SCAN_FORMAT,
        "blocks": [[b, blocks[b]] for b in sorted(blocks)],
    }


#: Version of the counts/ layout; a work area scanned by another version is refused on resume.
SCAN_FORMAT = 2


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


def not_criteo(files: Sequence[InputFile], stats: Sequence[dict[str, Any]]) -> list[str]:
    """A message for each file whose every line is bad: not a Criteo log (a README, a listing beside the
    data), which must leave the input folder; skipping its lines would hide that."""
    return [f"input file {f.path}: every one of its {st['lines']:,} lines is bad: it is not a Criteo click log "
            "(a README or another file beside the data?); move it out of the input folder"
            for f, st in zip(files, stats) if st["lines"] and st["bad_lines"] == st["lines"]]


def bad_lines_advice(files: Sequence[InputFile], stats: Sequence[dict[str, Any]]) -> str:
    """The fix for bad lines: files that are not Criteo logs leave the folder; for the others ``--bad-lines skip``."""
    advice = not_criteo(files, stats)
    partly = [f for f, st in zip(files, stats) if st["bad_lines"] and st["bad_lines"] < st["lines"]]
    if partly:
        advice.append("Pass --bad-lines skip to skip (and report) such lines instead.")
    return "\n".join(advice)


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
