"""torchrun commands for hybrid-parallel cases (light: no torch import).

One node: the runner starts ``python -m torch.distributed.run --standalone --nproc_per_node N
-m dlrmbench.runner.worker CASE.json`` (torchrun's own local rendezvous, no restarts: a failed rank
fails the case). Several nodes: run :func:`multinode_command`'s command on every node, with the same
rendezvous endpoint (torchrun's c10d rendezvous), e.g. for 2 nodes x 8 GPUs::

    python -m torch.distributed.run --nnodes 2 --nproc_per_node 8 --rdzv_backend c10d \\
        --rdzv_endpoint HOST0:29500 --rdzv_id RUN -m dlrmbench.runner.worker case.json

with ``gpus: 16`` in the case (the world size). The runner itself launches single-node runs only.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path
from typing import Any, Callable


def torchrun_command(case: Any, case_file: Path) -> list[str]:
    """The command that runs ``case`` as ``case.world_size`` ranks on this node."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1",
            "--nproc_per_node", str(case.world_size), "--max_restarts", "0",
            "-m", "dlrmbench.runner.worker", str(case_file)]


def multinode_command(case_file: str, nnodes: int, nproc_per_node: int, endpoint: str,
                      run_id: str = "dlrmbench") -> list[str]:
    """The command to run on each of ``nnodes`` nodes (same ``endpoint``, ``host:port`` of one node)."""
    return ["python", "-m", "torch.distributed.run", "--nnodes", str(nnodes), "--nproc_per_node",
            str(nproc_per_node), "--rdzv_backend", "c10d", "--rdzv_endpoint", endpoint, "--rdzv_id", run_id,
            "--max_restarts", "0", "-m", "dlrmbench.runner.worker", case_file]


_ROOT_CAUSE = re.compile(r"Root Cause \(first observed failure\):(.*?)(?:={5,}|\Z)", re.S)


def torchrun_root_cause(log: str) -> tuple[int, int] | None:
    """``(rank, exit code)`` of torchrun's "first observed failure" in its log, or None."""
    match = _ROOT_CAUSE.search(log)
    if not match:
        return None
    rank = re.search(r"^\s*rank\s*:\s*(-?\d+)", match.group(1), re.M)
    code = re.search(r"^\s*exitcode\s*:\s*(-?\d+)", match.group(1), re.M)
    if not rank or not code:
        return None
    return int(rank.group(1)), int(code.group(1))


def failure_reason(log: str, reason: str, first_error: dict[str, Any] | None) -> str:
    """``reason`` with torchrun's root cause put first when a rank died without reporting an error."""
    cause = torchrun_root_cause(log)
    if cause is None:
        return reason
    rank, code = cause
    if first_error is not None and first_error.get("failed_rank") == rank:
        return reason  # the rank that failed first reported its own error
    how = f"exit code {code}"
    if code < 0:
        import signal

        try:
            how = f"killed by {signal.Signals(-code).name}"
        except ValueError:
            how = f"killed by signal {-code}"
    return f"rank {rank} died ({how}) without reporting an error (torchrun's first observed failure); then {reason}"



#: How often the parent looks at the ranks' process states (seconds): a stopped rank fails its case
#: within ``distributed.timeout_s`` plus this, plus the time to kill the ranks (well under a second).
WATCH_INTERVAL_S = 0.5


#: What a stopped rank's failure reason says after naming it (the runner's watch and the heartbeat watch).
STOPPED_CONSEQUENCE = ("its peers cannot go on, so the case was ended; resume a stopped process with SIGCONT, or "
                       "raise distributed.timeout_s")


class StopTimer:
    """When each rank was first seen stopped, by this process's clock, and whether one has been for ``timeout_s``
    (shared by the watch of this node's processes and the heartbeat watch across nodes)."""

    def __init__(self, timeout_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.timeout_s = timeout_s
        self.clock = clock
        self.stopped_since: dict[int, float] = {}

    def update(self, rank: int, stopped: bool) -> bool:
        """Record whether ``rank`` is stopped now; True once it has been for ``timeout_s``."""
        if not stopped:
            self.stopped_since.pop(rank, None)
            return False
        now = self.clock()
        return now - self.stopped_since.setdefault(rank, now) >= self.timeout_s


class StoppedRankWatch:
    """Ends a multi-rank case whose rank has been stopped (SIGSTOP, a debugger, a job-control stop) for
    ``distributed.timeout_s``, naming the rank, instead of waiting for torchrun: its ranks live in their own
    sessions, a peer blocked in a collective fails only at the process group's timeout, and torchrun then gives
    the stopped rank its own 30 s grace (a SIGTERM that a stopped process never handles) before SIGKILL.

    :meth:`check` is called by the parent about every :data:`WATCH_INTERVAL_S`; it reads the states of the
    launcher's children (``RANK`` from each one's environment) with psutil, and costs nothing between calls.
    """

    def __init__(self, launcher_pid: int, world_size: int, timeout_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.launcher_pid = launcher_pid
        self.world_size = world_size
        self.timeout_s = timeout_s
        self.clock = clock
        self.ranks: dict[int, Any] = {}  # rank -> psutil.Process
        self.timer = StopTimer(timeout_s, clock)
        self.next_check = 0.0

    def _find_ranks(self) -> None:
        import psutil

        try:
            children = psutil.Process(self.launcher_pid).children()
        except psutil.Error:
            return
        for child in children:
            if child.pid in {p.pid for p in self.ranks.values()}:
                continue
            try:
                rank = child.environ().get("RANK", "")
            except psutil.Error:
                continue
            if rank.isdigit():
                self.ranks[int(rank)] = child

    def pids(self) -> list[int]:
        """The ranks' process ids seen so far (to kill them: they are not in the launcher's process group)."""
        return [p.pid for p in self.ranks.values()]

    def check(self) -> str | None:
        """The reason to end the case now (a rank stopped for ``timeout_s``), or None."""
        import psutil

        now = self.clock()
        if now < self.next_check:
            return None
        self.next_check = now + WATCH_INTERVAL_S
        if len(self.ranks) < self.world_size:
            self._find_ranks()
        for rank, process in sorted(self.ranks.items()):
            try:
                stopped = process.status() in (psutil.STATUS_STOPPED, psutil.STATUS_TRACING_STOP)
            except psutil.Error:
                stopped = False
            if self.timer.update(rank, stopped):
                return (f"rank {rank} (pid {process.pid}) was stopped (SIGSTOP, a debugger or job control) for "
                        f"{self.timeout_s:g} s, the case's distributed.timeout_s: {STOPPED_CONSEQUENCE}")
        return None
