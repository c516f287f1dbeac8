"""Machine checks: each setting that moves benchmark results, read from the system, never guessed.

CPU: frequency governor, boost, SMT, transparent huge pages, the memory allocator, other processes' CPU
use, CPU isolation and NUMA placement (sysfs, /proc, psutil). GPU (NVML, when it initialises): persistence
mode, application clocks, power limit, ECC, MIG, other processes, PCIe link. Each :class:`Finding` says
what was read, why it moves results and how to fix it. A value that cannot be read is ``unknown`` with
the reason; nothing is assumed.

``dlrmbench doctor`` prints the findings; ``dlrmbench run`` records them in the result set
(``environment.machine_state``) so that ``compare`` can say when two sets ran in different machine states.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from dlrmbench.allocators import kernel_thp_mode
from dlrmbench.results.noise import OTHER_CPU_CORES

SYS_CPU = Path("/sys/devices/system/cpu")
SYS_NODE = Path("/sys/devices/system/node")
THP = Path("/sys/kernel/mm/transparent_hugepage/enabled")


@dataclass(frozen=True)
class Finding:
    """One check: its value, whether it is fine for benchmarking, why it matters and the fix."""

    check: str
    value: str
    status: str            # "ok", "warn" (moves results), "info" (worth knowing) or "unknown" (not readable)
    why: str = ""
    fix: str = ""
    stable: bool = True    # a setting of the machine (compared between result sets), not a momentary load

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def governor(sys_cpu: Path = SYS_CPU) -> Finding:
    values = sorted({v for p in sys_cpu.glob("cpu[0-9]*/cpufreq/scaling_governor") if (v := _read(p))})
    if not values:
        return Finding("CPU governor", "not readable", "unknown",
                       "no cpufreq in sysfs (a VM or container hides it): the host decides the clock")
    value = ", ".join(values)
    if values == ["performance"]:
        return Finding("CPU governor", value, "ok")
    return Finding("CPU governor", value, "warn",
                   "the clock follows the load, so a run's first seconds and short cases run slower and vary",
                   "cpupower frequency-set -g performance (root)")


def boost(sys_cpu: Path = SYS_CPU) -> Finding:
    for path, on_when in ((sys_cpu / "cpufreq" / "boost", "1"), (sys_cpu / "intel_pstate" / "no_turbo", "0")):
        raw = _read(path)
        if raw is not None:
            on = raw == on_when
            return Finding("CPU boost", "on" if on else "off", "info" if on else "ok",
                           "boost clocks depend on temperature and on how many cores are busy: runs vary with "
                           "the machine's load and heat" if on else "",
                           f"for stable comparisons: echo {0 if on_when == '1' else 1} > {path} (root)" if on else "")
    return Finding("CPU boost", "not readable", "unknown", "no boost switch in sysfs (a VM, or not exposed)")


def smt(sys_cpu: Path = SYS_CPU) -> Finding:
    raw = _read(sys_cpu / "smt" / "active")
    if raw is None:
        return Finding("SMT", "not readable", "unknown", "no /sys/devices/system/cpu/smt (an old kernel or a VM)")
    if raw == "1":
        return Finding("SMT", "on", "info",
                       "two hardware threads share one core: a thread's speed depends on its sibling's work",
                       "pin the benchmark to one thread per core (taskset), or echo off > "
                       "/sys/devices/system/cpu/smt/control (root)")
    return Finding("SMT", "off", "ok")


def transparent_huge_pages(path: Path = THP) -> Finding:
    chosen = kernel_thp_mode(path)
    if chosen is None:
        return Finding("transparent huge pages", "not readable", "unknown", f"{path} is missing")
    if chosen == "always":
        return Finding("transparent huge pages", chosen, "info",
                       "large allocations get huge pages when the kernel finds them: page faults and khugepaged "
                       "compaction vary from run to run",
                       "keep it the same on the machines you compare (madvise is the common choice)")
    if chosen == "never":
        return Finding("transparent huge pages", chosen, "info",
                       "no process gets huge pages: a case's huge_pages: true runs on 4 KiB pages here",
                       "echo madvise > /sys/kernel/mm/transparent_hugepage/enabled (root) to let cases ask for them")
    return Finding("transparent huge pages", chosen, "ok")


def allocator(environ: dict[str, str] | None = None) -> Finding:
    env = os.environ if environ is None else environ
    preload = env.get("LD_PRELOAD", "")
    for name in ("jemalloc", "tcmalloc", "mimalloc"):
        if name in preload:
            return Finding("memory allocator", name, "ok", "a preloaded allocator (LD_PRELOAD)")
    tuned = sorted(k for k in env if k.startswith("MALLOC_"))
    value = "glibc malloc" + (f" ({', '.join(tuned)})" if tuned else "")
    return Finding("memory allocator", value, "info",
                   "glibc's malloc keeps freed memory per thread arena; allocation-heavy steps can vary with "
                   "its state", "keep the allocator the same on both sides of a comparison (LD_PRELOAD of "
                   "jemalloc or tcmalloc is common for CPU runs)")


def other_cpu(interval_s: float = 0.3) -> Finding:
    """Cores' worth of CPU used by processes other than this one over ``interval_s`` (psutil)."""
    try:
        import psutil
    except ImportError:
        return Finding("other processes' CPU", "not readable", "unknown", "psutil is not installed", stable=False)
    me = psutil.Process()
    mine_before = sum(me.cpu_times()[:2])
    psutil.cpu_percent(None)
    import time

    start = time.perf_counter()
    time.sleep(interval_s)
    busy = psutil.cpu_percent(None) / 100 * (psutil.cpu_count() or 1)
    mine = (sum(me.cpu_times()[:2]) - mine_before) / max(1e-9, time.perf_counter() - start)
    other = max(0.0, busy - mine)
    cpus = psutil.cpu_count() or 1
    value = f"{other:.1f} of {cpus} cores"
    if other >= OTHER_CPU_CORES:  # what makes a measurement noisy
        return Finding("other processes' CPU", value, "warn",
                       "other processes take cores and caches from the benchmark; runs measured now are marked "
                       "noisy and compare's verdicts leave them out",
                       "stop them, or run when the machine is idle (top shows which)", stable=False)
    return Finding("other processes' CPU", value, "ok", stable=False)


def isolation(sys_cpu: Path = SYS_CPU) -> Finding:
    isolated = _read(sys_cpu / "isolated")
    allowed = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    if isolated is None:
        return Finding("CPU isolation", "not readable", "unknown", f"{sys_cpu / 'isolated'} is missing")
    if isolated:
        return Finding("CPU isolation", f"isolated CPUs {isolated}", "ok",
                       fix=f"pin the benchmark to them (taskset -c {isolated} dlrmbench run ...)")
    return Finding("CPU isolation", f"none (this process may use {allowed} CPUs)", "info",
                   "the scheduler may put any task on the benchmark's cores", "boot with isolcpus=/nohz_full= and "
                   "pin the benchmark to those CPUs (taskset)")


def numa(sys_node: Path = SYS_NODE) -> Finding:
    nodes = sorted(p.name for p in sys_node.glob("node[0-9]*"))
    if not nodes:
        return Finding("NUMA", "not readable", "unknown", f"{sys_node} is missing")
    if len(nodes) == 1:
        return Finding("NUMA", "1 node", "ok")
    allowed = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()
    spans = [n for n in nodes if allowed & _cpulist(_read(sys_node / n / "cpulist") or "")]
    if len(spans) > 1:
        return Finding("NUMA", f"{len(nodes)} nodes, this process may run on {len(spans)}", "warn",
                       "threads and memory can land on different nodes from run to run: remote memory is slower",
                       "numactl --cpunodebind=0 --membind=0 dlrmbench run ...")
    return Finding("NUMA", f"{len(nodes)} nodes, bound to {spans[0] if spans else '?'}", "ok")


def _cpulist(text: str) -> set[int]:
    out: set[int] = set()
    for part in text.split(","):
        if "-" in part:
            lo, hi = part.split("-", 1)
            if lo.strip().isdigit() and hi.strip().isdigit():
                out.update(range(int(lo), int(hi) + 1))
        elif part.strip().isdigit():
            out.add(int(part))
    return out


def gpu_findings(nvml: Any = None) -> list[Finding]:
    """Per GPU from NVML; one ``unknown`` finding saying why when NVML does not initialise (no driver)."""
    try:
        if nvml is None:
            import pynvml as nvml  # type: ignore[no-redef]
        nvml.nvmlInit()
    except Exception as exc:
        return [Finding("GPU", "not checked", "unknown",
                        f"NVML did not initialise ({type(exc).__name__}: {str(exc)[:80] or 'no message'}): no NVIDIA "
                        "driver here, so there is no GPU to check")]

    def read(fn: str, *args: Any) -> Any:
        try:
            return getattr(nvml, fn)(*args)
        except Exception:
            return None

    out: list[Finding] = []
    try:
        for i in range(read("nvmlDeviceGetCount") or 0):
            h = nvml.nvmlDeviceGetHandleByIndex(i)
            out.extend(_one_gpu(i, h, nvml, read))
    finally:
        read("nvmlShutdown")
    return out


def _one_gpu(i: int, h: Any, nvml: Any, read: Any) -> list[Finding]:
    out = []
    persistence = read("nvmlDeviceGetPersistenceMode", h)
    if persistence is not None:
        out.append(Finding(f"GPU {i} persistence mode", "on" if persistence else "off", "ok" if persistence else "warn",
                           "" if persistence else "the driver unloads between processes: each run pays a start-up "
                           "and may start at other clocks", "" if persistence else "nvidia-smi -pm 1 (root)"))
    app, top = read("nvmlDeviceGetApplicationsClock", h, nvml.NVML_CLOCK_SM), read(
        "nvmlDeviceGetMaxClockInfo", h, nvml.NVML_CLOCK_SM)
    if app is not None and top is not None:
        out.append(Finding(f"GPU {i} application clock", f"{app} of {top} MHz (SM)", "ok" if app == top else "info",
                           "" if app == top else "the GPU runs below its top clock unless boosting",
                           "" if app == top else "nvidia-smi -ac <mem>,<sm> to fix the clocks on both machines"))
    limit, default = read("nvmlDeviceGetEnforcedPowerLimit", h), read("nvmlDeviceGetPowerManagementDefaultLimit", h)
    if limit is not None:
        lowered = default is not None and limit < default
        out.append(Finding(f"GPU {i} power limit", f"{limit / 1000:.0f} W" + (f" of {default / 1000:.0f} W" if default
                                                                              else ""),
                           "warn" if lowered else "ok",
                           "a lowered power limit caps clocks under load" if lowered else "",
                           "nvidia-smi -pl <watts> (root)" if lowered else ""))
    ecc = read("nvmlDeviceGetEccMode", h)
    if isinstance(ecc, (list, tuple)) and ecc:
        out.append(Finding(f"GPU {i} ECC", "on" if ecc[0] else "off", "info",
                           "ECC costs some memory bandwidth: compare machines with the same setting"))
    mig = read("nvmlDeviceGetMigMode", h)
    if isinstance(mig, (list, tuple)) and mig:
        out.append(Finding(f"GPU {i} MIG", "on" if mig[0] else "off", "warn" if mig[0] else "ok",
                           "a MIG slice has a fraction of the GPU's units and memory" if mig[0] else "",
                           "nvidia-smi -mig 0 for whole-GPU results" if mig[0] else ""))
    procs = read("nvmlDeviceGetComputeRunningProcesses", h)
    if procs is not None:
        others = [p for p in procs if getattr(p, "pid", None) != os.getpid()]
        out.append(Finding(f"GPU {i} other processes", str(len(others)), "warn" if others else "ok",
                           "other processes share the GPU's units and memory" if others else "",
                           "stop them before measuring" if others else "", stable=False))
    gen, width = read("nvmlDeviceGetCurrPcieLinkGeneration", h), read("nvmlDeviceGetCurrPcieLinkWidth", h)
    max_gen, max_width = read("nvmlDeviceGetMaxPcieLinkGeneration", h), read("nvmlDeviceGetMaxPcieLinkWidth", h)
    if gen is not None and width is not None:
        full = (max_gen is None or gen == max_gen) and (max_width is None or width == max_width)
        out.append(Finding(f"GPU {i} PCIe link", f"gen {gen} x{width}" + ("" if full else f" of gen {max_gen} x{max_width}"),
                           "ok" if full else "info",
                           "" if full else "an idle GPU lowers its link; a link that stays low under load slows "
                           "host-to-device copies"))
    return out


def machine_checks(measure_load: bool = True) -> list[Finding]:
    """Every check, CPU then GPU. ``measure_load``: sample other processes' CPU (about 0.3 s)."""
    findings = [governor(), boost(), smt(), transparent_huge_pages(), allocator(), isolation(), numa()]
    if measure_load:
        findings.append(other_cpu())
    return findings + gpu_findings()
