"""Host CPU and memory use from Linux ``/proc``: of the whole machine and of a process tree.

Read directly from /proc (no psutil dependency): ``/proc/stat`` and ``/proc/meminfo`` for the
machine, ``/proc/<pid>/stat`` of every process whose parent chain leads to the root pid for the
worker tree (CPU time and resident memory; its page faults and kernel time as running totals). CPU
percentages are over the interval since the previous reading; 100% = one core.

Noise: the CPU time of every process that is neither the worker tree nor the dlrmbench process itself
(``other_cpu_cores``: cores' worth, machine busy time minus ours), the mean CPU clock (cpufreq in
sysfs, else ``/proc/cpuinfo``) and the kernel's thermal-throttle counters, where readable.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, NamedTuple

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


class ProcessStat(NamedTuple):
    """What is read of one process from ``/proc/<pid>/stat``."""

    ppid: int
    cpu_ticks: int  # user + system
    rss_pages: int
    minor_faults: int  # page faults served without I/O (a fresh zeroed page, a page already in memory)
    major_faults: int  # page faults that read from disk
    system_ticks: int  # CPU time in the kernel (page faults are served there)


def _process_stat(proc: Path, pid: int) -> ProcessStat | None:
    """One process's :class:`ProcessStat`, or None if it is gone."""
    try:
        text = (proc / str(pid) / "stat").read_text()
    except OSError:  # exited meanwhile
        return None
    rest = text[text.rfind(")") + 2:].split()  # fields from 3 (state) on; comm may hold spaces
    try:  # proc(5): minflt is field 10, majflt 12, utime 14, stime 15, rss 24
        return ProcessStat(int(rest[1]), int(rest[11]) + int(rest[12]), int(rest[21]), int(rest[7]), int(rest[9]),
                           int(rest[12]))
    except (IndexError, ValueError):
        return None


def _process_table(proc: Path) -> dict[int, ProcessStat]:
    """pid -> :class:`ProcessStat` of every process."""
    table = {}
    for entry in proc.iterdir():
        if entry.name.isdigit() and (stat := _process_stat(proc, int(entry.name))) is not None:
            table[int(entry.name)] = stat
    return table


def descendants(table: "dict[int, ProcessStat] | dict[int, tuple[int, ...]]", root: int) -> set[int]:
    """Every pid below ``root`` in the process tree (``root`` itself excluded); a table row starts with the ppid."""
    children: dict[int, list[int]] = {}
    for pid, row in table.items():
        children.setdefault(row[0], []).append(pid)
    found: set[int] = set()
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


SYS_CPU = Path("/sys/devices/system/cpu")


def cpu_clock_mhz(sys_cpu: Path = SYS_CPU, proc: Path = PROC) -> float | None:
    """Mean current clock of all CPUs in MHz (cpufreq, else /proc/cpuinfo), or None when not readable."""
    values = []
    for path in sys_cpu.glob("cpu[0-9]*/cpufreq/scaling_cur_freq"):
        try:
            values.append(int(path.read_text().strip()) / 1000.0)
        except (OSError, ValueError):
            continue
    if not values:
        try:
            for line in (proc / "cpuinfo").read_text().splitlines():
                if line.startswith("cpu MHz"):
                    values.append(float(line.split(":", 1)[1]))
        except (OSError, ValueError):
            return None
    return sum(values) / len(values) if values else None


def cpu_throttle_count(sys_cpu: Path = SYS_CPU) -> int | None:
    """Sum of the kernel's per-core thermal throttle counters, or None where there are none."""
    total, seen = 0, False
    for path in sys_cpu.glob("cpu[0-9]*/thermal_throttle/core_throttle_count"):
        try:
            total += int(path.read_text().strip())
            seen = True
        except (OSError, ValueError):
            continue
    return total if seen else None


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
        self._counters: dict[int, tuple[int, int, int]] = {}  # last (minor, major faults, system ticks) of each
        self._totals = [0, 0, 0]  # minor faults, major faults, system ticks of the tree since sampling began
        self._cpu_total = 0  # CPU ticks of the tree since sampling began
        self.proc = proc
        self.root_pid = os.getpid() if root_pid is None else root_pid
        self._tick_hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
        self._cpus = os.cpu_count() or 1
        self._last: tuple[float, int, int] | None = None  # time, busy, total
        self._own_ticks: int | None = None  # CPU ticks of this (dlrmbench) process at the last reading
        self._clock: float | None = None
        self._throttle: int | None = None

    @classmethod
    def open(cls, root_pid: int | None) -> tuple["HostReader | None", str | None]:
        """A reader of the host and the process tree under ``root_pid``, or (None, why /proc cannot be read):
        the host telemetry source's ``open`` (as :meth:`NvmlReader.open` is the GPUs')."""
        reason = host_unavailable_reason()
        return (cls(root_pid), None) if reason is None else (None, reason)

    @property
    def tree(self) -> set[int]:
        """Pids of the worker tree as of the last reading."""
        return set(self._tree)

    def read(self, now: float) -> dict[str, Any]:
        """Machine CPU % (of all cores), memory used; worker-tree CPU % (100 = one core), RSS, process count."""
        busy, total = _machine_cpu_ticks(self.proc)
        used, mem_total = _memory_used(self.proc)
        if not self._tree or self._readings % self.rescan_every == 0:
            table = _process_table(self.proc)
            self._tree = descendants(table, self.root_pid)
            self._clock = cpu_clock_mhz(proc=self.proc)
            self._throttle = cpu_throttle_count()
        else:
            table = {pid: stat for pid in self._tree if (stat := _process_stat(self.proc, pid)) is not None}
        self._readings += 1
        tree = [pid for pid in self._tree if pid in table]
        # CPU used since the last reading, per process: a process seen for the first time adds nothing
        # (its earlier CPU time is not from this interval); one that exited drops out without a negative step
        used_ticks = sum(max(0, table[p].cpu_ticks - self._ticks.get(p, table[p].cpu_ticks)) for p in tree)
        self._ticks = {p: table[p].cpu_ticks for p in tree}
        self._cpu_total += used_ticks
        self._count_faults({p: table[p] for p in tree})
        tree_rss = sum(table[p].rss_pages for p in tree) * self._page
        own = _process_stat(self.proc, self.root_pid)
        own_ticks = own.cpu_ticks if own else None
        own_used = max(0, own_ticks - self._own_ticks) if own_ticks is not None and self._own_ticks is not None else 0
        self._own_ticks = own_ticks
        reading: dict[str, Any] = {
            "cpu_pct": None, "memory_used_bytes": used, "memory_total_bytes": mem_total,
            "worker_cpu_pct": None, "worker_rss_bytes": tree_rss, "worker_processes": len(tree),
            "other_cpu_cores": None, "cpu_mhz": self._clock, "cpu_throttle_count": self._throttle,
            "worker_minor_faults": self._totals[0], "worker_major_faults": self._totals[1],
            "worker_system_cpu_s": self._totals[2] / self._tick_hz, "worker_cpu_s": self._cpu_total / self._tick_hz,
        }
        if self._last is not None:
            t0, busy0, total0 = self._last
            if total > total0:
                reading["cpu_pct"] = 100.0 * (busy - busy0) / (total - total0)
            if now > t0:
                reading["worker_cpu_pct"] = 100.0 * used_ticks / self._tick_hz / (now - t0)
            if total > total0 and now > t0:
                busy_cores = (busy - busy0) / (total - total0) * self._cpus
                ours = (used_ticks + own_used) / self._tick_hz / (now - t0)
                reading["other_cpu_cores"] = max(0.0, busy_cores - ours)
        self._last = (now, busy, total)
        return reading

    def _count_faults(self, tree: dict[int, ProcessStat]) -> None:
        """Add the tree's page faults and kernel time since the last reading to the running totals (a process
        seen for the first time counts from then on, like its CPU time)."""
        now = {pid: (stat.minor_faults, stat.major_faults, stat.system_ticks) for pid, stat in tree.items()}
        for pid, values in now.items():
            before = self._counters.get(pid, values)
            for i in range(3):
                self._totals[i] += max(0, values[i] - before[i])
        self._counters = now

