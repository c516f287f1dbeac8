"""The /proc reader on a fake /proc: tree membership, CPU deltas per process, odd process names."""

from __future__ import annotations

from pathlib import Path

import pytest

from dlrmbench.telemetry.hostproc import HostReader, descendants


def stat_line(pid: int, comm: str, ppid: int, utime: int, stime: int, rss: int) -> str:
    fields = ["S", str(ppid)] + ["0"] * 9 + [str(utime), str(stime)] + ["0"] * 8 + [str(rss)] + ["0"] * 10
    return f"{pid} ({comm}) " + " ".join(fields) + "\n"


def write_proc(root: Path, processes: dict[int, tuple[str, int, int, int]], busy: int, idle: int) -> None:
    for entry in root.glob("[0-9]*"):
        (entry / "stat").unlink()
        entry.rmdir()
    (root / "stat").write_text(f"cpu  {busy} 0 0 {idle} 0 0 0 0 0 0\ncpu0 1 2 3 4\n")
    (root / "meminfo").write_text("MemTotal:       1000 kB\nMemFree:         100 kB\nMemAvailable:    400 kB\n")
    for pid, (comm, ppid, ticks, rss) in processes.items():
        (root / str(pid)).mkdir()
        (root / str(pid) / "stat").write_text(stat_line(pid, comm, ppid, ticks, 0, rss))


def test_descendants_follow_the_whole_tree() -> None:
    table = {10: (1, 0, 0), 11: (10, 0, 0), 12: (11, 0, 0), 13: (1, 0, 0)}
    assert descendants(table, 10) == {11, 12}


def test_reader_sums_cpu_and_memory_of_the_worker_tree_only(tmp_path: Path) -> None:
    # parent 100 -> worker 200 (name with spaces and a parenthesis) -> loader 201; 300 is unrelated
    procs = {100: ("python", 1, 0, 10), 200: ("py (worker) x", 100, 1000, 100), 201: ("loader", 200, 50, 20),
             300: ("other", 1, 5000, 999)}
    write_proc(tmp_path, procs, busy=100, idle=100)
    reader = HostReader(root_pid=100, proc=tmp_path, rescan_every=10)
    first = reader.read(now=0.0)
    assert first["worker_processes"] == 2 and first["worker_cpu_pct"] is None
    assert first["worker_rss_bytes"] == 120 * reader._page
    assert first["memory_used_bytes"] == 600 * 1024 and first["memory_total_bytes"] == 1000 * 1024
    # 0.5 s later: worker +40 ticks, loader exited, a new child 202 appeared (not seen until the next rescan)
    procs[200] = ("py (worker) x", 100, 1040, 100)
    del procs[201]
    procs[202] = ("new", 200, 7, 5)
    write_proc(tmp_path, procs, busy=150, idle=150)
    second = reader.read(now=0.5)
    hz = reader._tick_hz
    assert second["worker_cpu_pct"] == pytest.approx(100.0 * 40 / hz / 0.5)  # the exited loader adds no negative step
    assert second["cpu_pct"] == pytest.approx(50.0)
    assert second["worker_processes"] == 1
    rescanning = HostReader(root_pid=100, proc=tmp_path, rescan_every=1)
    rescanning.read(now=0.0)
    procs[202] = ("new", 200, 17, 5)
    write_proc(tmp_path, procs, busy=150, idle=150)
    third = rescanning.read(now=1.0)
    assert third["worker_processes"] == 2
    assert third["worker_cpu_pct"] == pytest.approx(100.0 * 10 / hz)  # a newly seen process counts from then on


def fault_line(pid: int, ppid: int, minflt: int, majflt: int, utime: int, stime: int) -> str:
    """A stat line with proc(5)'s fields: minflt is field 10, majflt 12, utime 14, stime 15, rss 24."""
    fields = ["S", str(ppid), "0", "0", "0", "0", "0", str(minflt), "0", str(majflt), "0", str(utime), str(stime)]
    return f"{pid} (w (x)) " + " ".join(fields + ["0"] * 8 + ["10"] + ["0"] * 10) + "\n"


def test_reader_keeps_running_totals_of_the_trees_page_faults_and_kernel_time(tmp_path: Path) -> None:
    (tmp_path / "stat").write_text("cpu  0 0 0 0 0 0 0 0 0 0\n")
    (tmp_path / "meminfo").write_text("MemTotal: 1000 kB\nMemAvailable: 500 kB\n")

    def write(pid: int, line: str) -> None:
        (tmp_path / str(pid)).mkdir(exist_ok=True)
        (tmp_path / str(pid) / "stat").write_text(line)

    write(100, fault_line(100, 1, 99_999, 99, 500, 500))  # dlrmbench itself: not the tree
    write(200, fault_line(200, 100, 5_000, 3, 100, 20))   # the worker, already running when sampling starts
    reader = HostReader(root_pid=100, proc=tmp_path, rescan_every=1)
    reader._tick_hz = 100
    first = reader.read(now=0.0)
    assert (first["worker_minor_faults"], first["worker_major_faults"], first["worker_system_cpu_s"]) == (0, 0, 0.0)
    write(200, fault_line(200, 100, 8_000, 4, 150, 30))   # +3000 minor, +1 major, +0.5 s user, +0.1 s kernel
    write(201, fault_line(201, 200, 700, 0, 10, 10))      # a new child: counts from its first reading on
    second = reader.read(now=1.0)
    assert (second["worker_minor_faults"], second["worker_major_faults"]) == (3_000, 1)
    assert second["worker_system_cpu_s"] == pytest.approx(0.1) and second["worker_cpu_s"] == pytest.approx(0.6)
    write(201, fault_line(201, 200, 1_000, 2, 10, 30))    # child +300 minor, +2 major, +0.2 s kernel
    third = reader.read(now=2.0)
    assert (third["worker_minor_faults"], third["worker_major_faults"]) == (3_300, 3)
    assert third["worker_system_cpu_s"] == pytest.approx(0.3) and third["worker_cpu_s"] == pytest.approx(0.8)
