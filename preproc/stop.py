"""Stopping a run on SIGTERM or SIGHUP: cancel Spark's jobs quietly, keep the finished stages, say so in one line.

Without this a SIGTERM killed the driver at once, or (sent to the process group, as ``timeout`` and service
managers do) let Spark, py4j and the Python workers print a screenful of errors. The signal handler never
raises inside a py4j call (that would leave the gateway's connection out of step): it cancels the running
Spark jobs from a thread of its own, so the stage's call returns with an error, and the stage boundary
(:func:`check`) stops the run. Everything a run keeps is already on disk under OUTPUT/_work with its marker
(:mod:`preproc.state`), so rerunning the same command resumes; :func:`stop_message` says what that is.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from preproc import atomic
from preproc.state import MANIFEST, WORK

_STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
_requested: list[int] = []  # the stop signal received, if any (set by the handler, read at stage boundaries)


class Stopped(BaseException):
    """A stop signal came: raised at the next stage boundary (a BaseException, like KeyboardInterrupt, so that
    no stage's ``except Exception`` turns it into a failure)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def requested() -> int | None:
    """The stop signal received during this run, or None."""
    return _requested[0] if _requested else None


def check() -> None:
    """Raise :class:`Stopped` if a stop signal came (called between stages)."""
    if _requested:
        raise Stopped(_requested[0])


def _cancel_spark_jobs() -> None:
    """Silence Spark's log and cancel its jobs, on this thread's own py4j connection (the JVM may already be
    gone, when the whole process group got the signal: then there is nothing to cancel)."""
    quiet_py4j()
    pyspark = sys.modules.get("pyspark")
    context = getattr(getattr(pyspark, "SparkContext", None), "_active_spark_context", None)
    if context is None:
        return
    try:
        context.setLogLevel("OFF")
        context.cancelAllJobs()
    except Exception:  # noqa: BLE001 - the JVM died with the process group
        pass


def restore_spark_log(spark: Any) -> None:
    """Spark's log back at ERROR (as :func:`preproc.session.get_session` sets it) once the stop is handled."""
    try:
        spark.sparkContext.setLogLevel("ERROR")
    except Exception:  # noqa: BLE001
        pass


def quiet_py4j() -> None:
    """py4j logs every failed call with a traceback; once stopping, those are noise."""
    logging.getLogger("py4j").setLevel(logging.CRITICAL + 1)


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """In the block, SIGTERM and SIGHUP record the stop and cancel Spark's running jobs (further stop signals
    are ignored); :func:`check` then raises :class:`Stopped` at the next stage boundary."""
    _requested.clear()

    def handler(signum: int, frame: Any) -> None:
        if not _requested:
            _requested.append(signum)
            threading.Thread(target=_cancel_spark_jobs, name="preprocess-stop", daemon=True).start()

    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield
        return
    before = {s: signal.signal(s, handler) for s in _STOP_SIGNALS}
    try:
        yield
    finally:
        for s, old in before.items():
            signal.signal(s, old)


def kept(output: Path) -> str:
    """What OUTPUT/_work holds of an unfinished run, in words (``the scan of 2 input files, the dictionaries``)."""
    work = output / WORK
    if (output / MANIFEST).exists():
        return "the complete dataset"
    parts = []
    scans = len(list((work / "scan").glob("*/stats.json"))) if (work / "scan").is_dir() else 0
    if scans:
        parts.append(f"the scan of {scans} input file{'s' if scans != 1 else ''}")
    if (work / "dictionaries.json").exists():
        parts.append("the dictionaries")
    if (work / "chunks.json").exists():
        parts.append("every transformed chunk")
    else:
        chunks = len(list((work / "chunks").glob("bucket-*/chunk.json"))) if (work / "chunks").is_dir() else 0
        if chunks:
            parts.append(f"{chunks} transformed chunk{'s' if chunks != 1 else ''}")
    for split in ("train", "test", "validation"):
        if atomic.read_json_or_none(work / f"assembled_{split}.json") is not None:
            parts.append(f"the {split} split")
    return ", ".join(parts) if parts else "nothing yet"


def stop_message(output: Path, signum: int) -> str:
    """The one line a stopped run ends with."""
    name = signal.Signals(signum).name
    return (f"preprocess stopped by {name}; kept in {output / WORK}: {kept(output)}; "
            "rerun the same command to resume from there")
