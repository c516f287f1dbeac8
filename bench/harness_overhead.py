"""Harness overhead: a case's step times inside ``dlrmbench run`` against a bare loop of the same model and batches.

    .venv/bin/python bench/harness_overhead.py --rounds 3            # NVIDIA's shape, fp32 (+ bf16 where native)
    .venv/bin/python bench/harness_overhead.py --shape small --rounds 2 --steps 30

One case per precision (eager dense parts, ``joint_sgd_in_backward`` tables, synthetic data, batch 2048;
``--shape large`` is NVIDIA's 26 x 100k x 128 with MLPs 512-256-128 / 1024-1024-512-256-1). Contestants, each
a fresh process, run in interleaved rounds (every contestant once per round, the order rotated by one each
round so that no contestant always follows the same one), so that drifting load on a shared machine hits all
alike:

- ``bare <allocator>``: ``bench/_bare_loop.py``, the case's model and batches in a plain timed loop, started
  with that allocator's environment (``glibc`` = how a user's script runs);
- ``run <allocator>``: ``dlrmbench run`` of the same case with ``allocator: <allocator>`` (``glibc`` = the
  harness before it chose its allocator; ``glibc-tuned`` = its default now);
- `` thp`` after either (``--huge-pages on`` or ``on,off``): ``huge_pages: true``, PyTorch's large buffers
  on transparent huge pages (``THP_MEM_ALLOC_ENABLE=1``) where the kernel's mode gives them; without it
  4 KiB pages (the default, as a plain Python process);
- ``run <allocator> no-telemetry`` (``--no-telemetry``): the same with the parent's telemetry sampler off, to
  tell the sampler's cost (it reads ``/proc`` every 100 ms while the worker's threads want both cores) from
  the rest of the harness.

Per contestant: p50 and mean of the measured step times (warm-up excluded), CPU time a step (all threads;
it hardly moves when other processes take the cores, so it is the figure to trust on a shared machine),
minor page faults per measured step and the share of CPU time in the kernel (the harness: its telemetry,
first to last progress report; the bare loop: ``getrusage``). Ratios are ``bare / run`` step time (1.00 = the harness costs nothing; below 1 =
slower through the harness), per round against the bare loop of the same round, median with min-max.
bf16 runs only where the CPU has native bf16 (AVX-512-BF16 or AMX); elsewhere it is skipped and says why.
An allocator whose library is not installed is skipped with the reason. The bare loop runs in a session of
its own, as dlrmbench's worker does (Linux's autogroup scheduling shares the cores between sessions: a loop in
the shell's session gets less CPU on a busy machine than the worker, up to 3x less wall time measured here).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dlrmbench import allocators  # noqa: E402
from dlrmbench.cpu_features import cpu_flags, native_bf16_reason  # noqa: E402

SHAPES = {
    "large": {"table_sizes": [100_000] * 26, "embedding_dim": 128, "bottom_mlp": [512, 256, 128],
              "top_mlp": [1024, 1024, 512, 256, 1]},
    "small": {"table_sizes": [10_000] * 26, "embedding_dim": 64, "bottom_mlp": [256, 64],
              "top_mlp": [512, 256, 1]},
}


@dataclass
class Contestant:
    kind: str  # "bare" or "run"
    allocator: str
    precision: str
    p50_ms: list[float] = field(default_factory=list)
    mean_ms: list[float] = field(default_factory=list)
    faults_per_step: list[float] = field(default_factory=list)
    kernel_share: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)  # CPU time a measured step (all threads)
    recorded: dict | None = None  # the allocator the process reported
    telemetry: bool = True  # run only: the parent's sampler on (the default) or off
    huge_pages: bool = False  # PyTorch's buffers on transparent huge pages (the case's huge_pages)
    huge_page_bytes: list[float] = field(default_factory=list)

    @property
    def label(self) -> str:
        return (f"{self.precision} {self.kind} {self.allocator}" + (" thp" if self.huge_pages else "")
                + ("" if self.telemetry else " no-telemetry"))

    @property
    def case(self) -> str:
        return (f"{self.precision}-{self.allocator}" + ("-thp" if self.huge_pages else "")
                + ("" if self.telemetry else "-no-telemetry"))


def write_suite(path: Path, shape: str, precisions: list[str], allocator_names: list[str], steps: int,
                warmup: int) -> None:
    """One case per precision x allocator, named ``<precision>-<allocator>``, the same on transparent huge
    pages (``-thp``: ``huge_pages: true``), and all of those with the parent's telemetry sampler off
    (``-no-telemetry``)."""
    import yaml

    batch, total = 2048, steps + warmup
    defaults = {
        "device": "cpu", "backend": "eager", "embedding": "joint_sgd_in_backward", "batch_size": batch,
        "test_batch_size": batch, "max_steps": total, "benchmark_warmup_steps": warmup, "test_batches": 1,
        "progress_every": 5, "timeout_s": 3600, "model": SHAPES[shape],
        "dataset": {"name": "synthetic", "options": {"train_samples": batch * total, "test_samples": batch,
                                                      "distinct_batches": 8}},
        "optimizer": {"lr": 0.01, "warmup_steps": 0, "decay_start_step": None},
    }
    cases = [{"name": f"{p}-{a}", "precision": p, "allocator": a} for p in precisions for a in allocator_names]
    cases += [{**c, "name": f"{c['name']}-thp", "huge_pages": True} for c in list(cases)]
    cases += [{**c, "name": f"{c['name']}-no-telemetry", "telemetry": {"enabled": False}} for c in list(cases)]
    path.write_text(yaml.safe_dump({"name": "harness-overhead", "defaults": defaults, "cases": cases}))


def run_bare(suite: Path, case: str, allocator: str, huge_pages: bool = False) -> dict:
    env = allocators.worker_environment(allocator, dict(os.environ), huge_pages=huge_pages)
    # its own session, as dlrmbench's worker: with the kernel's autogroup scheduling each session shares the
    # cores equally, so on a busy machine a loop in the shell's session gets less CPU than the worker
    out = subprocess.run([sys.executable, str(REPO / "bench" / "_bare_loop.py"), str(suite), case],
                         capture_output=True, text=True, cwd=REPO, env=env, start_new_session=True)
    if out.returncode != 0:
        raise SystemExit(f"bare loop of {case} failed:\n{out.stderr[-3000:]}")
    data = json.loads(out.stdout.strip().splitlines()[-1])
    return {"times": data["step_times_s"], "faults": data["minor_faults_per_step"],
            "kernel": data["kernel_cpu_share"], "cpu": data["cpu_s_per_step"], "allocator": data["allocator"],
            "huge_page_bytes": data["allocator"].get("huge_page_bytes")}


def run_harness(suite: Path, case: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run([sys.executable, "-m", "dlrmbench", "run", str(suite), "--only", case, "-o", tmp,
                              "--quiet"], capture_output=True, text=True, cwd=REPO)
        files = list(Path(tmp).rglob(f"cases/{case}.json"))
        if out.returncode != 0 or not files:
            raise SystemExit(f"dlrmbench run of {case} failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
        result = json.loads(files[0].read_text())
    if result["status"] != "ok":
        raise SystemExit(f"{case}: {result['status']}: {result.get('reason')}")
    warmup = result["config"]["benchmark_warmup_steps"]
    summary = result["telemetry"].get("summary", {})
    return {"times": result["step_times_s"][warmup:], "faults": summary.get("page_faults_minor_per_step"),
            "kernel": summary.get("worker_kernel_cpu_share"), "cpu": summary.get("worker_cpu_s_per_step"),
            "allocator": result["environment"].get("allocator"),
            "huge_page_bytes": (result["environment"].get("allocator") or {}).get("huge_page_bytes")}


def measure(contestant: Contestant, suite: Path) -> None:
    case = contestant.case
    got = (run_bare(suite, case, contestant.allocator, contestant.huge_pages) if contestant.kind == "bare"
           else run_harness(suite, case))
    if got["huge_page_bytes"] is not None:
        contestant.huge_page_bytes.append(got["huge_page_bytes"] / 2**20)
    contestant.p50_ms.append(1e3 * statistics.median(got["times"]))
    contestant.mean_ms.append(1e3 * statistics.fmean(got["times"]))
    if got["faults"] is not None:
        contestant.faults_per_step.append(got["faults"])
    if got["kernel"] is not None:
        contestant.kernel_share.append(got["kernel"])
    if got["cpu"] is not None:
        contestant.cpu_ms.append(1e3 * got["cpu"])
    contestant.recorded = got["allocator"]


def spread(values: list[float], fmt: str) -> str:
    if not values:
        return "-"
    mid = format(statistics.median(values), fmt)
    return mid if len(values) == 1 else f"{mid} ({format(min(values), fmt)}-{format(max(values), fmt)})"


def ratios(base: list[float], other: list[float]) -> list[float]:
    """Per-round ``base / other`` of step times (above 1: ``other`` is slower)."""
    return [b / o for b, o in zip(base, other)]


def interval(values: list[float]) -> str:
    """The geometric mean of per-round ratios with its 95% interval (rounds are the unit of replication:
    processes differ by more than the steps inside one)."""
    from dlrmbench.results.stats import run_interval

    bounds = run_interval(values)
    if bounds is None:
        return "-"
    centre = statistics.geometric_mean(values)
    return f"{centre:.3f} [{bounds[0]:.3f}, {bounds[1]:.3f}]"


def report(contestants: list[Contestant], rounds: int, seconds: float) -> None:
    threads = os.environ.get("OMP_NUM_THREADS", f"torch's default ({os.cpu_count()} cores)")
    print(f"\n{rounds} interleaved round(s) in {seconds:.0f} s; threads {threads}; values: median (min-max) over rounds")
    header = (f"{'contestant':36s} {'p50 ms':>22s} {'mean ms':>22s} {'CPU ms/step':>22s} {'faults/step':>22s} "
              f"{'kernel CPU':>12s} {'huge MiB':>10s} "
              f"{'bare glibc / this (p50, mean)':>36s} {'bare same / this (p50, mean)':>34s}")
    print(header)
    cpu_cells: list[tuple[Contestant, Contestant | None, Contestant | None]] = []
    for c in contestants:
        bare = {(a.allocator, a.huge_pages): a for a in contestants if a.kind == "bare" and a.precision == c.precision}
        cells = []
        for base in (bare.get(("glibc", False)), bare.get((c.allocator, c.huge_pages))):
            if base is None or base is c:
                cells.append("-")
                continue
            cells.append(f"{spread(ratios(base.p50_ms, c.p50_ms), '.3f')}, {spread(ratios(base.mean_ms, c.mean_ms), '.3f')}")
        cpu_cells.append((c, bare.get((c.allocator, c.huge_pages)), bare.get(("glibc", False))))
        kernel = f"{100 * statistics.median(c.kernel_share):.1f}%" if c.kernel_share else "-"
        huge = f"{statistics.median(c.huge_page_bytes):,.0f}" if c.huge_page_bytes else "-"
        print(f"{c.label:36s} {spread(c.p50_ms, '.1f'):>22s} {spread(c.mean_ms, '.1f'):>22s} "
              f"{spread(c.cpu_ms, '.1f'):>22s} {spread(c.faults_per_step, ',.0f'):>22s} {kernel:>12s} {huge:>10s} "
              f"{cells[0]:>36s} {cells[1]:>34s}")
    print("\nbare same / this, geometric mean of the per-round ratios [95% interval] (p50, mean, CPU time a step):")
    for c in contestants:
        same = next((b for b in contestants if b.kind == "bare" and b.precision == c.precision
                     and b.allocator == c.allocator and b.huge_pages == c.huge_pages), None)
        if c.kind == "run" and same is not None:
            print(f"  {c.label:36s} {interval(ratios(same.p50_ms, c.p50_ms))}; "
                  f"{interval(ratios(same.mean_ms, c.mean_ms))}; "
                  f"{interval(ratios(same.cpu_ms, c.cpu_ms)) if same.cpu_ms and c.cpu_ms else '-'}")
    print("\nCPU time a step, bare / this (robust to other processes taking the cores; per round, median (min-max)):")
    for c, same, plain in cpu_cells:
        if c.kind == "run" and c.cpu_ms:
            vs = [f"{b.label} {spread(ratios(b.cpu_ms, c.cpu_ms), '.3f')}" for b in (plain, same)
                  if b is not None and b.cpu_ms and (b is plain or b is not plain)]
            print(f"  {c.label:36s} {'; '.join(dict.fromkeys(vs))}")
    print("\nallocator each process reported (result environment['allocator'] / the bare loop's own reading):")
    for c in contestants:
        print(f"  {c.label:36s} {json.dumps(c.recorded, sort_keys=True)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=40, help="measured steps per process")
    parser.add_argument("--warmup", type=int, default=10, help="warm-up steps per process (not measured)")
    parser.add_argument("--shape", choices=sorted(SHAPES), default="large")
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--run-allocators", default="glibc,glibc-tuned,jemalloc,tcmalloc")
    parser.add_argument("--bare-allocators", default="glibc,glibc-tuned")
    parser.add_argument("--threads", type=int, help="OMP_NUM_THREADS of every contestant (default: torch's own)")
    parser.add_argument("--huge-pages", default="off",
                        help="on, off or on,off: contestants with huge_pages true / false (4 KiB pages, as a plain "
                             "Python process)")
    parser.add_argument("--no-telemetry", action="store_true",
                        help="also run each harness contestant with the parent's telemetry sampler off")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.steps < 5:
        parser.error("--rounds must be at least 1 and --steps at least 5")
    precisions = []
    for precision in args.precisions.split(","):
        why = native_bf16_reason() if precision == "bf16" else None
        if why:
            print(f"bf16: skipped ({why})")
        else:
            precisions.append(precision)
    chosen: dict[str, list[str]] = {}
    for kind, names in (("bare", args.bare_allocators), ("run", args.run_allocators)):
        for name in names.split(","):
            if name not in allocators.ALLOCATORS:
                parser.error(f"unknown allocator {name!r}; choose from {', '.join(allocators.ALLOCATORS)}")
            why = allocators.unavailable_reason(name)
            if why:
                print(f"{kind} {name}: skipped ({why})")
            else:
                chosen.setdefault(kind, []).append(name)
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # inherited by every contestant (and dlrmbench's worker)
    names = sorted({a for kind in chosen.values() for a in kind}, key=list(allocators.ALLOCATORS).index)
    flags = sorted(f for f in cpu_flags() if f.startswith(("avx512", "amx")) or f in ("avx2", "fma"))
    print(f"CPU {os.cpu_count()} cores, flags {' '.join(flags) or 'none of avx2/avx512/amx'}; shape {args.shape}, "
          f"batch 2048, {args.warmup} warm-up + {args.steps} measured steps a process")
    huge = [{"on": True, "off": False}[v] for v in args.huge_pages.split(",") if v in ("on", "off")]
    if not huge or len(huge) != len(args.huge_pages.split(",")):
        parser.error("--huge-pages takes on, off or on,off")
    contestants = [Contestant(kind, a, p, huge_pages=h) for p in precisions for kind in ("bare", "run")
                   for a in chosen.get(kind, []) for h in huge]
    if args.no_telemetry:
        contestants += [Contestant("run", a, p, telemetry=False, huge_pages=h) for p in precisions
                        for a in chosen.get("run", []) for h in huge]
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        suite = Path(tmp) / "harness-overhead.yaml"
        write_suite(suite, args.shape, precisions, names, args.steps, args.warmup)
        for round_index in range(args.rounds):
            shift = round_index % len(contestants)  # each contestant takes each place in the order in turn
            for c in contestants[shift:] + contestants[:shift]:
                measure(c, suite)
                print(f"  round {round_index + 1}/{args.rounds} {c.label:36s} p50 {c.p50_ms[-1]:8.1f} ms, mean "
                      f"{c.mean_ms[-1]:8.1f} ms, faults/step {c.faults_per_step[-1] if c.faults_per_step else 0:10,.0f}",
                      file=sys.stderr, flush=True)
    report(contestants, args.rounds, time.monotonic() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
