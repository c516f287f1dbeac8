"""Host CPU and memory use from Linux ``/proc``: of the whole machine and of a process tree.

Read directly from /proc (no psutil dependency): ``/proc/stat`` and ``/proc/meminfo`` for the
machine, ``/proc/<pid>/stat`` of every process whose parent chain leads to the root pid for the
worker tree (CPU time and resident memory). CPU percentages are over the interval since the
previous reading; 100% = one core.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

PROC = Path("/proc")


def host_unavailable_reason(proc: Path = PROC) -> str | None:
    """Why host metrics cannot be read here, or None."""
    if not (proc / "stat").exists() or not (proc / "meminfo").exists():
        return "host metrics need Linux /proc (not found)"
    return None


def _machine_cpu_ticks(proc: Path) -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs."""
    with open(proc / "stat", encoding="ascii") as handle:
        fields = handle.readline().split()[1:]
    values = [int(v) for v in fields[:8]]
    total = sum(values)
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return total - idle, total


def _memory_used(proc: Path) -> tuple[int, int]:
    """(used, total) bytes of the machine: MemTotal - MemAvailable."""
    info = {}
    for line in (proc / "meminfo").read_text().splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts:
            info[key] = int(parts[0]) * 1024
    total = info.get("MemTotal", 0)
    return total - info.get("MemAvailable", info.get("MemFree", 0)), total


def _process_stat(proc: Path, pid: int) -> tuple[int, int, int] | None:
    """(ppid, cpu ticks, rss pages) of one process, or None if it is gone."""
    try:
        text = (proc / str(pid) / "stat").read_text()
    except OSError:  # exited meanwhile
        return None
    rest = text[text.rfind(")") + 2:].split()  # fields from 3 (state) on; comm may hold spaces
    try:
        return int(rest[1]), int(rest[11]) + int(rest[12]), int(rest[21])
    except (IndexError, ValueError):
        return None


def _process_table(proc: Path) -> dict[int, tuple[int, int, int]]:
    """pid -> (ppid, cpu ticks, rss pages) of every process."""
    table = {}
    for entry in proc.iterdir():
        if entry.name.isdigit() and (stat := _process_stat(proc, int(entry.name))) is not None:
            table[int(entry.name)] = stat
    return table


def descendants(table: dict[int, tuple[int, int, int]], root: int) -> set[int]:
    """Every pid below ``root`` in the process tree (``root`` itself excluded)."""
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found: set[int] = set()
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


class HostReader:
    """Successive readings of machine and process-tree CPU and memory.

    Finding the tree means reading every process's stat file, so the full scan runs only every
    ``rescan_every`` readings (and while the tree is empty); in between, only the known members are read.
    """

    def __init__(self, root_pid: int | None = None, proc: Path = PROC, rescan_every: int = 10) -> None:
        self.rescan_every = rescan_every
        self._tree: set[int] = set()
        self._readings = 0
        self._ticks: dict[int, int] = {}  # last CPU ticks of every tree member
        self.proc = proc
        self.root_pid = os.getpid() if root_pid is None else root_pid
        self._tick_hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
        self._cpus = os.cpu_count() or 1
        self._last: tuple[float, int, int] | None = None  # time, busy, total

    def read(self, now: float) -> dict[str, Any]:
        """Machine CPU % (of all cores), memory used; worker-tree CPU % (100 = one core), RSS, process count."""
        busy, total = _machine_cpu_ticks(self.proc)
        used, mem_total = _memory_used(self.proc)
        if not self._tree or self._readings % self.rescan_every == 0:
            table = _process_table(self.proc)
            self._tree = descendants(table, self.root_pid)
        else:
            table = {pid: stat for pid in self._tree if (stat := _process_stat(self.proc, pid)) is not None}
        self._readings += 1
        tree = [pid for pid in self._tree if pid in table]
        # CPU used since the last reading, per process: a process seen for the first time adds nothing
        # (its earlier CPU time is not from this interval); one that exited drops out without a negative step
        used_ticks = sum(max(0, table[p][1] - self._ticks.get(p, table[p][1])) for p in tree)
        self._ticks = {p: table[p][1] for p in tree}
        tree_rss = sum(table[p][2] for p in tree) * self._page
        reading: dict[str, Any] = {
            "cpu_pct": None, "memory_used_bytes": used, "memory_total_bytes": mem_total,
            "worker_cpu_pct": None, "worker_rss_bytes": tree_rss, "worker_processes": len(tree),
        }
        if self._last is not None:
            t0, busy0, total0 = self._last
            if total > total0:
                reading["cpu_pct"] = 100.0 * (busy - busy0) / (total - total0)
            if now > t0:
                reading["worker_cpu_pct"] = 100.0 * used_ticks / self._tick_hz / (now - t0)
        self._last = (now, busy, total)
        return reading
