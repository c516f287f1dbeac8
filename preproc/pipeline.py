"""The whole run: checks, pre-flight, then the stages scan -> dictionaries -> splits -> manifest.

Each stage (and each input file of the scan) records completion, so a rerun skips finished work.
`run` raises PreprocError for everything a user can fix; the CLI turns that into a clean message.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from preproc import atomic, preflight, stop
from preproc.dictionaries import build_dictionaries, export_lookup
from preproc.errors import PreprocError
from preproc.split_summary import split_plan
from preproc.inputs import InputFile, discover
from preproc.options import PreprocOptions
from preproc import parsing
from preproc.scan import SCAN_FORMAT, bad_line_message, bad_lines_advice, batches, not_criteo, scan_files
from preproc.schema import CAT_KEYS, SPLITS, cat_dtype
from preproc.session import effective_conf, get_session, master_url, require_pyspark
from preproc.state import MANIFEST, WorkState, output_records, prepare_output
from preproc.transform import dataset_frame, train_buckets
from preproc.writer import assemble, done_chunks, write_chunks

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

Echo = Callable[[str], None]


def check_split(opts: PreprocOptions, files: list[InputFile]) -> None:
    """Refuse a split rule that cannot apply to these files."""
    rule = opts.split
    names = {f.name for f in files}
    if rule.kind == "reference" and len(files) < 2:
        raise PreprocError(
            f"--split reference needs at least 2 input files (train days + the last day for test/validation), "
            f"{opts.input_dir} has {len(files)}; use --split fraction:0.05,0.05 for a single file"
        )
    if rule.kind == "files":
        for n in rule.test_files + rule.validation_files:
            if n not in names:
                raise PreprocError(f"--split {rule.describe()}: no input file named {n!r} in {opts.input_dir}")
        if not [f for f in files if f.name not in set(rule.test_files) | set(rule.validation_files)]:
            raise PreprocError(f"--split {rule.describe()}: no file is left for training")


def check_output_outside_input(input_dir: Path, output_dir: Path) -> None:
    """Refuse an output directory inside the input one (after `..` and symlinks are resolved).

    Our own files there would become input files of the next run (or of a resumed one).
    """
    real_in, real_out = input_dir.resolve(), output_dir.resolve()
    if real_out == real_in or real_in in real_out.parents:
        shown = f"{output_dir}" + (f" (= {real_out})" if real_out != output_dir.absolute() else "")
        raise PreprocError(
            f"output {shown} is inside the input directory {input_dir}; put it elsewhere "
            "(its files would be read as input)"
        )


def check_evaluation_rows(opts: PreprocOptions, files: list[InputFile], stats: list[dict[str, Any]]) -> None:
    """Refuse, right after the scan, a split rule whose test/validation files hold no valid line."""
    valid = {f.name: st["lines"] - st["bad_lines"] for f, st in zip(files, stats)}
    rule = opts.split
    if rule.kind == "reference":
        last = files[-1]
        if valid[last.name] < 2:
            raise PreprocError(
                f"input file {last.path} holds {valid[last.name]} valid line(s): --split reference halves the "
                "last file (natural name order) into test and validation, so both would be empty or one-sided; "
                "check that the last day was copied completely, or name the evaluation files with --split files:..."
            )
    elif rule.kind == "files":
        for role, names in (("test", rule.test_files), ("validation", rule.validation_files)):
            if names and not sum(valid[n] for n in names):
                raise PreprocError(
                    f"--split {rule.describe()}: the {role} file(s) {', '.join(names)} hold no valid line; "
                    f"the {role} split would be empty"
                )


def check_rows(opts: PreprocOptions, rows: dict[str, int]) -> None:
    """Refuse to finish (no manifest) when a split the rule promises came out empty."""
    rule = opts.split
    wanted = ["train"]
    if rule.kind == "reference":
        wanted += ["test", "validation"]
    elif rule.kind == "files":
        wanted += ["test"] + (["validation"] if rule.validation_files else [])
    else:
        wanted += ["test"] if rule.test_fraction > 0 else []
        wanted += ["validation"] if rule.validation_fraction > 0 else []
    empty = [s for s in wanted if rows.get(s, 0) == 0]
    if empty:
        raise PreprocError(
            f"the {' and '.join(empty)} split(s) came out empty ({', '.join(f'{k} {v:,}' for k, v in rows.items())} "
            f"rows) under --split {rule.describe()}; add input rows or change --split (nothing was marked complete)"
        )


def run(
    opts: PreprocOptions,
    master: str | None = None,
    spark_conf: Mapping[str, str] | None = None,
    echo: Echo = print,
    skip_preflight: bool = False,
) -> dict[str, Any]:
    """Run (or resume) the pipeline; returns the manifest written to OUTPUT/preprocess.json."""
    require_pyspark()
    conf = dict(spark_conf or {})  # the user's settings
    effective = effective_conf(conf)
    files = discover(opts.input_dir)
    out = opts.output_dir.absolute()
    check_output_outside_input(opts.input_dir, out)
    check_split(opts, files)
    # JSON round trip, so it compares equal to the stored copy (tuples become lists)
    fingerprint = json.loads(json.dumps({"inputs": [f.record() for f in files], **opts.fingerprint()}))

    def before_create() -> None:
        if skip_preflight:
            return
        est = preflight.check(files, out, effective, master_url(master))
        echo(f"pre-flight: {est.describe()}: fits")

    status = prepare_output(out, fingerprint, before_create)
    if status == "complete":
        echo(f"{out} already holds this run, complete; nothing to do")
        return atomic.read_json(out / MANIFEST)
    if status == "resume":
        echo(f"resuming the unfinished run in {out}")
    spark, created = get_session(master, conf)
    try:
        with parsing.fixed_blocks(spark, parsing.BLOCK_BYTES):
            return _stages(spark, opts, files, WorkState(out), fingerprint, echo)
    except BaseException:
        if stop.requested() is None:
            raise
        stop.restore_spark_log(spark)
        raise stop.Stopped(stop.requested()) from None  # the stage failed because its jobs were cancelled
    finally:
        if created:
            try:
                spark.stop()
            except Exception:  # noqa: BLE001 - only while stopping: the JVM may have died with the group
                if stop.requested() is None:
                    raise


def _timed(echo: Echo, label: str, fn: Callable[[], Any]) -> Any:
    stop.check()  # a stop signal came since the last stage
    start = time.perf_counter()
    echo(f"{label} ...")
    try:
        result = fn()
    except PreprocError:
        raise
    except Exception as exc:  # a Spark or I/O failure: no traceback, say how to continue
        stop.check()  # ... or the jobs were cancelled by a stop signal
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:400]
        raise PreprocError(f"{label} failed: {first}\nFinished stages are kept; rerun the same command to resume.") from exc
    stop.check()  # finished, but a stop came: the next stage does not start
    echo(f"{label}: done in {time.perf_counter() - start:.1f} s")
    return result


def _stages(
    spark: "SparkSession",
    opts: PreprocOptions,
    files: list[InputFile],
    state: WorkState,
    fingerprint: dict[str, Any],
    echo: Echo,
) -> dict[str, Any]:
    n = len(files)
    pending = [i for i in range(n) if not (state.scan_dir(i) / "stats.json").exists()]
    if len(pending) < n:
        echo(f"[1/4 scan] {n - len(pending)} of {n} files already scanned, skipped")
    groups = batches([files[i] for i in pending])
    for g, group in enumerate(groups):
        idx = [pending[k] for k in group]
        names = files[idx[0]].name + (f" .. {files[idx[-1]].name} ({len(idx)} files)" if len(idx) > 1 else "")
        label = f"[1/4 scan {g + 1}/{len(groups)}] {names}"
        batch_stats = _timed(
            echo, label,
            lambda: scan_files(spark, [files[i] for i in idx], [state.scan_dir(i) for i in idx], opts.bad_lines,
                               state.work / "scan.tmp", parsing.BLOCK_BYTES),
        )
        echo(f"{label}: {sum(st['lines'] for st in batch_stats):,} lines, "
             f"{sum(st['bad_lines'] for st in batch_stats):,} bad")
    stats = [atomic.read_json(state.scan_dir(i) / "stats.json") for i in range(n)]
    for f, st in zip(files, stats):
        if st.get("block_bytes") != parsing.BLOCK_BYTES or st.get("scan_format") != SCAN_FORMAT:
            raise PreprocError(f"{state.work}: the scan of {f.name} was made by another version of preproc; "
                               "delete OUTPUT/_work and rerun")
    if opts.bad_lines == "fail" and any(st["bad_lines"] for st in stats):  # scanned earlier under `skip`
        reports = [bad_line_message(f, st) for f, st in zip(files, stats) if st["bad_lines"]]
        raise PreprocError("\n".join(reports) + "\n" + bad_lines_advice(files, stats))
    for f, st in zip(files, stats):
        if st["bad_lines"]:
            echo(bad_line_message(f, st) + "\n  (skipped under --bad-lines skip)")
    for message in not_criteo(files, stats):
        echo(f"Warning: {message}")
    check_evaluation_rows(opts, files, stats)
    lines, warnings = split_plan(opts.split, files, stats)
    echo(f"splits (--split {opts.split.describe()}):")
    for line in lines:
        echo(f"  {line}")
    for warning in warnings:
        echo(f"Warning: {warning}")

    dict_dir = state.output / "dictionaries"
    marker = state.done("dictionaries")
    if marker is None:
        atomic.remove(state.work / "chunks")  # chunks map ids of the dictionaries they were written with
        sizes = _timed(
            echo,
            "[2/4 dictionaries]",
            lambda: build_dictionaries(
                spark, [state.scan_dir(i) / "counts" for i in range(n)], opts.frequency_threshold,
                dict_dir, state.work / "dictionaries.tmp",
            ),
        )
        _timed(echo, "[2/4 dictionaries] lookup arrays", lambda: export_lookup(spark, dict_dir, state.work / "lookup", sizes))
        atomic.write_json(state.output / "model_size.json", sizes)
        state.mark("dictionaries", {"model_size": sizes})
    else:
        echo("[2/4 dictionaries]: already done, skipped")
        sizes = marker["model_size"]
    dtypes = [cat_dtype(sizes[k]) for k in CAT_KEYS]

    chunk_dir = state.work / "chunks"
    chunks = state.done("chunks")
    if chunks is None:
        # Finished chunks of an interrupted transform are kept only if they were cut the same way.
        layout = {"train_buckets": train_buckets(spark), "blocks": sum(len(st["blocks"]) for st in stats),
                  "model_size": sizes}
        if not chunk_dir.exists() or atomic.read_json_or_none(chunk_dir / "layout.json") != layout:
            atomic.remove(chunk_dir)
            chunk_dir.mkdir(parents=True)
            atomic.write_json(chunk_dir / "layout.json", layout)
        kept = done_chunks(chunk_dir)
        if kept:
            echo(f"[3/4 transform] {len(kept)} chunk(s) ({sum(c['rows'] for c in kept):,} rows) kept from the "
                 "interrupted run; the rest is redone")
        new = _timed(
            echo,
            "[3/4 transform] parse, order rows, map ids, write chunks",
            lambda: write_chunks(
                dataset_frame(spark, files, opts.split, opts.seed, stats, layout["train_buckets"],
                              [c["bucket"] for c in kept]),
                chunk_dir,
                state.work / "lookup",
                dtypes,
            ),
        )
        parts = sorted(kept + new, key=lambda c: c["bucket"])
        state.mark("chunks", {"parts": parts})
    else:
        echo("[3/4 transform]: already done, skipped")
        parts = chunks["parts"]

    rows: dict[str, int] = {}
    for split in SPLITS:
        label = f"[4/4 write {split}]"
        assembled = state.done(f"assembled_{split}")
        if assembled is not None:
            echo(f"{label}: already done, skipped")
            rows[split] = assembled["rows"]
            continue
        rows[split] = _timed(echo, label, lambda: assemble(chunk_dir, parts, split, state.output / split, dtypes))
        state.mark(f"assembled_{split}", {"rows": rows[split]})
        echo(f"{label}: {rows[split]:,} rows")

    check_rows(opts, rows)
    manifest = {
        "format": "dlrm-split-v1",
        "input_dir": str(opts.input_dir.absolute()),
        "inputs": [
            {**f.record(), "lines": st["lines"], "bad_lines": st["bad_lines"], "bad": st["bad"]}
            for f, st in zip(files, stats)
        ],
        "frequency_threshold": opts.frequency_threshold,
        "split_rule": opts.split.describe(),
        "seed": opts.seed,
        "bad_line_policy": opts.bad_lines,
        "rows": rows,
        "model_size": sizes,
        "cat_dtypes": dtypes,
        "fingerprint": fingerprint,
        "outputs": output_records(state.output),  # checked by the readers and by a rerun (data changed since)
    }
    atomic.write_json(state.output / MANIFEST, manifest)
    if not opts.keep_work:
        atomic.remove(state.work)
    echo(f"done: {state.output / MANIFEST}: train {rows['train']:,}, test {rows['test']:,}, "
         f"validation {rows['validation']:,} rows")
    return manifest
