"""Running one case in its own worker process, with a timeout and clean interruption.

The worker runs in a new session (process group), so a terminal's Ctrl-C reaches only the
parent, which forwards it (SIGTERM and SIGHUP to the parent likewise stop the worker) and records
the case as interrupted; the temporary directory is removed on every path. A case that exceeds its timeout is
terminated (SIGTERM, then SIGKILL) and recorded as timed out; the ranks of a multi-process case (in sessions of
their own) are killed with it, and a rank stopped for ``distributed.timeout_s`` fails the case at once, named.
The worker's ``TMPDIR`` is a folder inside the case's temporary directory, so whatever it, torchrun or its ranks
leave there goes with it. Events are read on a thread so the
parent can enforce the deadline while the worker is silent. The worker starts with the case's allocator
(:mod:`dlrmbench.allocators`: its preload and settings replace the parent's), torchrun's ranks likewise.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from dlrmbench.allocators import worker_environment
from dlrmbench.config.schema import Case
from dlrmbench.resolved import ResolvedCase, write_resolved_case
from dlrmbench.results.stale import process_exists
from dlrmbench.runner.signals import deferred
from dlrmbench.workload.reporter import parse_event

EventHandler = Callable[[dict[str, Any]], None]


@dataclass
class WorkerOutcome:
    """What the parent saw of a worker: its events, exit code, and how it ended."""

    events: list[dict[str, Any]] = field(default_factory=list)
    returncode: int | None = None
    timed_out: bool = False
    interrupted: bool = False
    stop_signal: int | None = None  # the signal that interrupted the run (SIGINT, SIGTERM, SIGHUP)
    deadline_s: float | None = None  # the timeout that applied (the case's, or --timeout)
    log_tail: str = ""
    duration_s: float = 0.0
    ended_by_parent: str | None = None  # why the parent ended a case it saw could not go on (a stopped rank)


LaunchCommand = Callable[[Case, Path], list[str]]


def default_command(case: Case, case_file: Path) -> list[str]:
    """A single worker process running the case."""
    return [sys.executable, "-m", "dlrmbench.runner.worker", str(case_file)]


def worker_command(resolved: ResolvedCase, case_file: Path) -> list[str]:
    """One worker process, or torchrun's ranks when the planner chose the ``torchrun`` launcher (a
    one-way call into :mod:`dlrmbench.distributed`, which never calls back)."""
    if resolved.launcher == "torchrun":
        from dlrmbench import distributed

        return distributed.launch_command(resolved.case, case_file)
    return default_command(resolved.case, case_file)


def _descendants(proc: subprocess.Popen) -> list[int]:
    """The worker's descendants' pids (torchrun's ranks run in sessions of their own: a signal to the worker's
    process group does not reach them)."""
    import psutil

    try:
        return [p.pid for p in psutil.Process(proc.pid).children(recursive=True)]
    except psutil.Error:
        return []


def _kill_all(proc: subprocess.Popen, others: list[int]) -> None:
    """SIGKILL the worker's process group and ``others`` (pids listed as the worker's descendants while it
    ran: torchrun's ranks live in sessions of their own, outside its group). A pid reused since it was listed
    would be killed too; the window is narrow (the launcher has just exited)."""
    for pid in others:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _stop(proc: subprocess.Popen, first: int, grace_s: float) -> None:
    """Send ``first`` to the worker's process group; SIGKILL it and its descendants if it is still alive after
    ``grace_s``."""
    descendants = _descendants(proc)
    try:
        os.killpg(proc.pid, first)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        _kill_all(proc, descendants)
        return
    _kill_all(proc, [pid for pid in descendants if process_exists(pid)])  # ranks its launcher left behind


def _pump(proc: subprocess.Popen, events: "queue.Queue[dict[str, Any] | None]") -> None:
    """Read the worker's event lines (on a thread) into ``events``; None marks the end."""
    assert proc.stdout is not None
    for line in proc.stdout:
        event = parse_event(line)
        if event is not None:
            events.put(event)
    events.put(None)


#: Python 3.11+ leaves the current folder off ``sys.path`` in the worker (and in torchrun's ranks, which
#: inherit the environment): a folder named ``dlrmbench`` there (the clone's own folder, as git names it)
#: would otherwise shadow the installed package as a namespace package and fail every case.
SAFE_PATH_ENV = {"PYTHONSAFEPATH": "1"}

#: The pid of the ``dlrmbench run`` process that started a worker, in the worker's environment.
PARENT_PID_VARIABLE = "DLRMBENCH_PARENT_PID"


def _private_tmpdir(case_tmp: Path, env: dict[str, str]) -> dict[str, str]:
    """``TMPDIR`` inside the case's temporary directory (removed on every path), so neither the worker nor
    torchrun (its ``torchelastic_*`` folders) nor a rank leaves anything in the system's; torch's compile cache
    keeps its usual shared place."""
    folder = case_tmp / "tmp"
    folder.mkdir()
    shared = {} if "TORCHINDUCTOR_CACHE_DIR" in env else {
        "TORCHINDUCTOR_CACHE_DIR": str(Path(tempfile.gettempdir()) / f"torchinductor_{_user()}")}
    return {"TMPDIR": str(folder), **shared}


def _user() -> str:
    import getpass

    try:
        return getpass.getuser().replace(os.sep, "_")
    except (KeyError, OSError):
        return "unknown"


def _rank_watch(resolved: ResolvedCase, pid: int) -> Any:
    """The stopped-rank watch of a multi-process case (:mod:`dlrmbench.distributed`), else None."""
    if resolved.launcher != "torchrun":
        return None
    from dlrmbench import distributed

    return distributed.stopped_rank_watch(resolved.case, pid)


def run_isolated(resolved: ResolvedCase, on_event: EventHandler, timeout_s: float | None = None,
                 grace_s: float = 10.0, env: dict[str, str] | None = None) -> WorkerOutcome:
    """Run the resolved case in a worker process; call ``on_event`` for each event as it arrives.

    The worker's case file is the :class:`ResolvedCase` as JSON: the worker builds from it directly,
    without the plugin registry and without validating plugin options again.

    Raises KeyboardInterrupt after recording (in the returned outcome passed to ``on_event`` as an
    ``interrupted`` event) when the user interrupts; the caller decides what to do next.
    """
    case = resolved.case
    outcome = WorkerOutcome()
    deadline_s = timeout_s if timeout_s is not None else case.timeout_s
    outcome.deadline_s = deadline_s
    with tempfile.TemporaryDirectory(prefix="dlrmbench-case-") as tmp:
        case_file = Path(tmp) / "case.json"
        case_file.write_text(write_resolved_case(resolved))
        log_path = Path(tmp) / "worker.log"
        # the worker asks to die with this process (worker.die_with_parent)
        worker_env = {**os.environ, "PYTHONUNBUFFERED": "1", PARENT_PID_VARIABLE: str(os.getpid()),
                      **SAFE_PATH_ENV, **(env or {})}
        # the case's allocator and pages, not the shell's
        worker_env = worker_environment(case.allocator, worker_env, huge_pages=case.huge_pages)
        worker_env.update(_private_tmpdir(Path(tmp), worker_env))
        start = time.monotonic()
        with open(log_path, "w") as log:
            events: queue.Queue[dict[str, Any] | None] = queue.Queue()
            proc: subprocess.Popen | None = None
            reader: threading.Thread | None = None
            try:
                with deferred():  # a stop request during the start waits until ``proc`` is known
                    proc = subprocess.Popen(
                        worker_command(resolved, case_file), stdout=subprocess.PIPE, stderr=log, text=True,
                        start_new_session=True, env=worker_env,
                    )
                    reader = threading.Thread(target=_pump, args=(proc, events), daemon=True)
                    reader.start()
                watch = _rank_watch(resolved, proc.pid)
                finished = False
                while not finished:
                    try:
                        event = events.get(timeout=0.1)
                    except queue.Empty:
                        event = {}
                    if event is None:
                        finished = True
                    elif event:
                        outcome.events.append(event)
                        on_event(event)
                    if not finished and watch is not None:
                        ended = watch.check()
                        if ended is not None:
                            outcome.ended_by_parent = ended
                            _kill_all(proc, watch.pids() + _descendants(proc))
                            break
                    if not finished and time.monotonic() - start > deadline_s:
                        outcome.timed_out = True
                        _stop(proc, signal.SIGTERM, grace_s)
                        break
                proc.wait()
            except KeyboardInterrupt as exc:  # Ctrl-C, SIGTERM or SIGHUP to the parent (runner/signals.py)
                outcome.interrupted = True
                outcome.stop_signal = getattr(exc, "signum", signal.SIGINT)
                if proc is None:
                    raise
                # The worker turns SIGINT and SIGTERM into a recorded interruption; SIGHUP would kill it.
                forward = signal.SIGINT if outcome.stop_signal == signal.SIGINT else signal.SIGTERM
                _stop(proc, forward, grace_s)
            assert reader is not None
            reader.join(timeout=5)
            while True:  # events that arrived while stopping
                try:
                    event = events.get_nowait()
                except queue.Empty:
                    break
                if event:
                    outcome.events.append(event)
                    on_event(event)
        outcome.returncode = proc.returncode
        outcome.duration_s = time.monotonic() - start
        outcome.log_tail = log_path.read_text(errors="replace")[-4000:]
    return outcome
