"""Heartbeats of every rank in the rendezvous store, so a rank stopped on another node fails the case within
``distributed.timeout_s``, named with its node (the runner's :class:`~dlrmbench.distributed.launch.
StoppedRankWatch` sees only the ranks of its own node, and a multi-node case is started by torchrun on each
node, without the runner).

Each rank of a multi-node case runs a daemon thread that adds 1 to its key ``beat/RANK`` in torchrun's
rendezvous TCPStore every :data:`BEAT_INTERVAL_S` (a rank blocked in a collective keeps beating: the collective
releases the GIL; a SIGSTOPped process, a frozen node or a dead process does not). The first rank of each node
(``LOCAL_RANK`` 0) also watches: it reads every rank's counter each interval (one ``multi_get``) and, when one
has not moved for ``timeout_s`` by its own clock (no clocks are compared across machines), reports the error
naming the rank, its node, host and pid, and ends its own process, which makes torchrun end the case. A rank
that leaves (its case ended, or its own error) marks its key ``done`` first, so it is never taken for a stopped
one. Imports torch (a worker-side module).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from datetime import timedelta
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from dlrmbench.distributed.launch import STOPPED_CONSEQUENCE, StopTimer

#: How often each rank beats and each watcher reads (seconds): a stopped rank fails its case within
#: ``timeout_s`` plus about two of these, plus torchrun's time to end the node's other ranks.
BEAT_INTERVAL_S = 1.0
#: What a multi-node case's collectives wait past ``timeout_s``: two beats and a margin for a loaded machine.
WATCH_SLACK_S = 2 * BEAT_INTERVAL_S + 3.0
DONE = b"done"
PREFIX = "dlrmbench/heartbeat"


def is_multi_node(environ: dict[str, str] | None = None) -> bool:
    """Whether torchrun started this rank as part of more than one node (``WORLD_SIZE`` > ``LOCAL_WORLD_SIZE``)."""
    env = os.environ if environ is None else environ
    try:
        return int(env["WORLD_SIZE"]) > int(env["LOCAL_WORLD_SIZE"])
    except (KeyError, ValueError):
        return False


def collective_timeout_s(timeout_s: float) -> float:
    """The process group's timeout: ``timeout_s``, plus :data:`WATCH_SLACK_S` in a multi-node case (the watch
    names a stopped rank within ``timeout_s`` + two beats; a collective failing first would not name it)."""
    return timeout_s + WATCH_SLACK_S if is_multi_node() else timeout_s


def _store(timeout_s: float) -> Any:
    """A client of torchrun's rendezvous store (its own connection: TCPStore clients are not shared between
    threads), under this run's prefix."""
    import torch.distributed as dist

    store = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), is_master=False,
                          timeout=timedelta(seconds=timeout_s))
    return dist.PrefixStore(f"{PREFIX}/{os.environ.get('TORCHELASTIC_RUN_ID', 'none')}", store)


class HeartbeatWatch:
    """Names a rank whose heartbeat counter has not moved for ``timeout_s`` (the watcher's side)."""

    def __init__(self, store: Any, world_size: int, timeout_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.world_size = world_size
        self.timer = StopTimer(timeout_s, clock)
        self.keys = [f"beat/{r}" for r in range(world_size)]
        for key in self.keys:
            store.add(key, 0)  # creates the missing ones, so multi_get never waits
        self.last: list[bytes | None] = [None] * world_size

    def check(self) -> tuple[int, str] | None:
        """``(rank, reason)`` to end the case now, or None."""
        values = self.store.multi_get(self.keys)
        for rank, value in enumerate(values):
            if value == DONE:
                self.timer.update(rank, False)
                continue
            unchanged = value == self.last[rank]
            self.last[rank] = value
            if self.timer.update(rank, unchanged):
                return rank, stopped_reason(rank, self._who(rank), self.timer.timeout_s)
        return None

    def _who(self, rank: int) -> str:
        key = f"who/{rank}"
        if not self.store.check([key]):
            return "node unknown: it never reported"
        who = json.loads(self.store.get(key))
        return f"node {who['node']}, host {who['host']}, pid {who['pid']}"


def stopped_reason(rank: int, who: str, timeout_s: float) -> str:
    """The case's failure reason for a rank whose heartbeat stopped (ends as the runner's watch's reason)."""
    return (f"rank {rank} ({who}) sent no heartbeat for {timeout_s:g} s, the case's distributed.timeout_s: "
            f"stopped (SIGSTOP, a debugger or job control), or its process or node is gone; {STOPPED_CONSEQUENCE}")


class _Beat:
    """The daemon thread of one rank: beats, and on ``LOCAL_RANK`` 0 watches."""

    def __init__(self, rank: int, world_size: int, timeout_s: float, watch: bool,
                 on_stopped: Callable[[str, int], None]) -> None:
        self.rank = rank
        self.store = _store(max(timeout_s, 30.0))
        who = {"node": os.environ.get("GROUP_RANK", "?"), "host": socket.gethostname(), "pid": os.getpid()}
        self.store.set(f"who/{rank}", json.dumps(who))
        self.store.add(f"beat/{rank}", 1)
        self.watch = HeartbeatWatch(self.store, world_size, timeout_s) if watch else None
        self.on_stopped = on_stopped
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="dlrmbench-heartbeat", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopping.wait(BEAT_INTERVAL_S):
            try:
                self.store.add(f"beat/{self.rank}", 1)
                stopped = self.watch.check() if self.watch is not None else None
            except Exception:  # the store is gone: torchrun is ending the case; nothing left to watch
                return
            if stopped is not None:
                self.on_stopped(stopped[1], stopped[0])
                return

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5 * BEAT_INTERVAL_S)
        try:
            self.store.set(f"beat/{self.rank}", DONE)
        except Exception:
            pass


def end_case(reason: str, failed_rank: int) -> None:
    """Report ``reason`` as the case's error (the event every rank may emit) and end this process: its main
    thread may be blocked in a collective with the stopped rank, and torchrun ends the node's other ranks."""
    from dlrmbench.workload.reporter import Reporter

    Reporter(sys.stdout, rank=0).emit("error", kind="RankStopped", message=reason, failed_rank=failed_rank,
                                      time=time.time())
    print(f"dlrmbench: {reason}", file=sys.stderr, flush=True)
    sys.stdout.flush()
    os._exit(1)


@contextmanager
def rank_heartbeat(rank: int, world_size: int, timeout_s: float,
                   on_stopped: Callable[[str, int], None] = end_case) -> Iterator[None]:
    """Beat (and on each node's first rank, watch) while the block runs, in a multi-node case; nothing on one
    node (the runner's watch covers its ranks there)."""
    if not is_multi_node():
        yield
        return
    beat = _Beat(rank, world_size, timeout_s, os.environ.get("LOCAL_RANK") == "0", on_stopped)
    try:
        yield
    finally:
        beat.stop()
