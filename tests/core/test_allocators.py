"""The worker's allocator: chosen per case, replacing the shell's, skipped where not installed, recorded as run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dlrmbench import allocators
from dlrmbench.allocators import ALLOCATORS, mismatch, observed, unavailable_reason, worker_environment
from dlrmbench.config.schema import Case
from dlrmbench.host import Host
from dlrmbench.plugins import get_registry
from dlrmbench.runner.plan import plan

GLIBC = sys.platform.startswith("linux") and "glibc" in " ".join(__import__("platform").libc_ver())


def test_unknown_allocator_names_the_choices() -> None:
    assert Case(name="x").allocator == "glibc-tuned"
    with pytest.raises(ValueError, match=r"unknown allocator 'jemaloc' \(did you mean \"jemalloc\"\?\); choose one "
                                         r"of: 'glibc-tuned', 'glibc', 'jemalloc', 'tcmalloc'"):
        Case(name="x", allocator="jemaloc")


def test_the_shells_allocator_settings_are_replaced_by_the_cases(tmp_path: Path) -> None:
    (tmp_path / "libjemalloc.so.2").write_bytes(b"")
    shell = {"PATH": "/bin", "MALLOC_ARENA_MAX": "2", "MALLOC_TRIM_THRESHOLD_": "0", "MALLOC_CONF": "narenas:1",
             "TCMALLOC_RELEASE_RATE": "10", "LD_PRELOAD": "/opt/libtcmalloc.so.4 /opt/libfaketime.so.1"}
    tuned = worker_environment("glibc-tuned", shell, dirs=[tmp_path], huge_pages=True)
    assert {k: v for k, v in tuned.items() if k != "PATH"} == {
        "LD_PRELOAD": "/opt/libfaketime.so.1",  # not an allocator: kept
        "MALLOC_MMAP_THRESHOLD_": str(2**30), "MALLOC_TRIM_THRESHOLD_": str(2**40), "MALLOC_TOP_PAD_": str(64 * 2**20),
        "THP_MEM_ALLOC_ENABLE": "1", "DLRMBENCH_ALLOCATOR": "glibc-tuned"}
    plain = worker_environment("glibc", {**shell, "THP_MEM_ALLOC_ENABLE": "1"}, dirs=[tmp_path], huge_pages=False)
    assert {k: v for k, v in plain.items() if k != "PATH"} == {"LD_PRELOAD": "/opt/libfaketime.so.1",
                                                               "DLRMBENCH_ALLOCATOR": "glibc"}
    je = worker_environment("jemalloc", shell, dirs=[tmp_path])
    assert je["LD_PRELOAD"] == f"{tmp_path}/libjemalloc.so.2:/opt/libfaketime.so.1"
    assert je["MALLOC_CONF"] == "dirty_decay_ms:-1,muzzy_decay_ms:-1" and "MALLOC_ARENA_MAX" not in je
    assert shell["MALLOC_ARENA_MAX"] == "2"  # the parent's own environment is untouched


def test_a_missing_library_skips_the_case_with_the_package_to_install(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    reason = unavailable_reason("tcmalloc", dirs=[tmp_path])
    assert reason is not None and reason.startswith("allocator tcmalloc: libtcmalloc_minimal.so.4 or libtcmalloc.so.4 "
                                                    "not found")
    assert "install libtcmalloc-minimal4 (Debian, Ubuntu)" in reason and reason.endswith("choose allocator: glibc-tuned")
    with pytest.raises(RuntimeError, match="allocator tcmalloc: .* not found"):
        worker_environment("tcmalloc", {}, dirs=[tmp_path])
    assert unavailable_reason("glibc") is None and unavailable_reason("glibc-tuned", dirs=[]) is None
    monkeypatch.setattr(allocators, "library_dirs", lambda: [tmp_path])
    cases = [Case(name=a, device="cpu", batch_size=64, allocator=a, model={"table_sizes": [4, 4]}) for a in ALLOCATORS]
    planned = plan(cases, Host(cpu_count=2, memory_bytes=2**33), get_registry())
    assert [(p.case.name, (p.skip_reason or "").split(":")[0]) for p in planned] == [
        ("glibc-tuned", ""), ("glibc", ""), ("jemalloc", "allocator jemalloc"), ("tcmalloc", "allocator tcmalloc")]


def test_what_a_process_runs_with_is_read_from_its_maps(tmp_path: Path) -> None:
    maps = tmp_path / "maps"
    maps.write_text("7f00-7f01 r-xp 00000000 08:01 42          /usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4.5.10\n"
                    "7f02-7f03 r-xp 00000000 08:01 43          /usr/lib/x86_64-linux-gnu/libc.so.6\n"
                    "7f04-7f05 rw-p 00000000 00:00 0 \n")
    env = {"DLRMBENCH_ALLOCATOR": "tcmalloc", "TCMALLOC_RELEASE_RATE": "0", "GLIBC_TUNABLES": "glibc.malloc.tcache_count=0",
           "HOME": "/root"}
    thp = tmp_path / "enabled"
    thp.write_text("always [madvise] never\n")
    record = observed(env, str(maps), thp)
    assert record == {"name": "tcmalloc", "library": "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4.5.10",
                      "settings": {"GLIBC_TUNABLES": "glibc.malloc.tcache_count=0", "TCMALLOC_RELEASE_RATE": "0"},
                      "huge_pages": False, "kernel_thp": "madvise"}
    on = observed({**env, "THP_MEM_ALLOC_ENABLE": "1"}, str(maps), thp)
    assert on["huge_pages"] is True and on["settings"]["THP_MEM_ALLOC_ENABLE"] == "1"
    assert observed(env, str(maps), tmp_path / "missing")["kernel_thp"] is None
    assert mismatch(record) is None
    assert mismatch({**record, "name": "jemalloc"}).startswith("allocator jemalloc was asked for, but this process "
                                                               "allocates with /usr/lib/x86_64-linux-gnu/libtcmalloc")
    assert mismatch({**record, "name": "glibc-tuned"}).endswith("libtcmalloc_minimal.so.4.5.10 is loaded into this process")
    assert mismatch({**record, "name": None}) is None  # not started by the runner: nothing to contradict


FAULTS_PER_REUSE = r"""
import ctypes, json, resource
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes, libc.free.argtypes = [ctypes.c_size_t], [ctypes.c_void_p]
size = 48 << 20  # above glibc's largest dynamic mmap threshold (32 MiB): every malloc is a fresh mmap by default
def once():
    p = libc.malloc(size)
    ctypes.memset(p, 1, size)
    libc.free(p)
once()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(4):
    once()
print(json.dumps((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 4))
"""


@pytest.mark.skipif(not GLIBC, reason="the glibc rows tune glibc's malloc (this platform has another libc)")
def test_the_rows_keep_a_reused_buffer_in_memory() -> None:
    """A freed 48 MiB buffer is faulted in again on every reuse with glibc's defaults (12,288 pages), and stays
    resident with every other row (rows whose library is missing are left out)."""
    pages = (48 << 20) // __import__("resource").getpagesize()
    faults = {}
    for name in ALLOCATORS:
        if unavailable_reason(name):
            continue
        out = subprocess.run([sys.executable, "-c", FAULTS_PER_REUSE], env=worker_environment(name, {}),
                             capture_output=True, text=True, check=True, timeout=60)
        faults[name] = json.loads(out.stdout)
    assert faults["glibc"] >= pages
    assert all(count < pages / 100 for name, count in faults.items() if name != "glibc"), faults


HUGE_PAGE_BYTES = r"""
import json, torch
from dlrmbench.allocators import huge_page_bytes
table = torch.ones(64 << 18)  # 64 MiB, touched
print(json.dumps(huge_page_bytes()))
"""


def test_huge_pages_reach_the_tables_where_the_kernel_gives_them() -> None:
    """``huge_pages: true`` puts a 64 MiB tensor on transparent huge pages when the kernel's mode is madvise or
    always; ``false`` (the default) leaves it on 4 KiB pages unless the kernel gives them to everyone."""
    assert Case(name="x").huge_pages is False
    mode = allocators.kernel_thp_mode()
    if mode not in ("madvise", "always"):
        pytest.skip(f"the kernel's transparent huge pages are {mode}: no process gets them here")
    got = {}
    for on in (True, False):
        out = subprocess.run([sys.executable, "-c", HUGE_PAGE_BYTES], capture_output=True, text=True, check=True,
                             cwd=Path(__file__).resolve().parents[2],
                             env=worker_environment("glibc-tuned", {"PATH": "/usr/bin:/bin"}, huge_pages=on))
        got[on] = json.loads(out.stdout)
    assert got[True] >= 32 << 20, got  # most of the table (the kernel may lack free 2 MiB blocks for a few)
    if mode == "madvise":
        assert got[False] == 0, got
