"""Preprocessing throughput: the Spark pipeline vs the plain-Python reference, on generated input.

Usage:  python bench/preprocess.py [--rows 1000000,4000000] [--days 4] [--master local[2]] [--no-reference]
                                   [--code PATH --code PATH ...]
Prints rows per second for each input size (end-to-end `preproc.pipeline.run` wall time, Spark
session start excluded), the time of every stage, and the same for tests/preproc/reference_impl.py on
the same files, in one run, with the load average before and after each measurement (the machine
may be shared: read the figures with it). Performance lives here, never in timed tests.

`--code PATH` (repeatable) runs the `preproc` package of another checkout (e.g. `--code ../baseline
--code .` for before/after): each one in its own process (its own Spark session and JVM settings),
one after the other on the same generated files, interleaved per input size.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def generate(root: Path, rows: int, days: int, seed: int = 0) -> Path:
    """Criteo-like day files: ~20% missing integers, skewed categorical vocabularies (numpy, fast)."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True)
    per_day = [rows // days + (1 if d < rows % days else 0) for d in range(days)]
    for d, n in enumerate(per_day):
        cols = [rng.integers(0, 2, n).astype(str)]
        for _ in range(13):
            v = rng.geometric(0.01, n).astype(str)
            v[rng.random(n) < 0.2] = ""
            cols.append(v)
        for j in range(26):
            vocab = int(10 ** rng.uniform(1, 5))
            ids = np.minimum(rng.zipf(1.3, n), vocab) * 2654435761 % (1 << 32)
            v = np.char.zfill(np.char.mod("%x", ids), 8)
            v[rng.random(n) < 0.05] = ""
            cols.append(v)
        lines = ["\t".join(r) for r in zip(*cols)]
        (root / f"day_{d}").write_text("\n".join(lines) + "\n")
    return root


def run_one(code: Path, inp: Path, out: Path, master: str, driver_memory: str, threshold: int) -> None:
    """Child process: run the pipeline of the checkout `code` on `inp`; print stage lines, then a JSON line."""
    sys.path.insert(0, str(code))
    warnings.filterwarnings("ignore")
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from preproc.options import PreprocOptions, SplitRule
    from preproc.pipeline import run
    from preproc.session import get_session

    if not Path(sys.modules["preproc"].__file__).resolve().is_relative_to(code):
        sys.exit(f"--code {code}: Python imported preproc from {sys.modules['preproc'].__file__} instead")
    spark, _ = get_session(master, {"spark.driver.memory": driver_memory, "spark.ui.showConsoleProgress": "false",
                                    "spark.sql.shuffle.partitions": "8"})
    stages: list[str] = []
    try:
        t = time.perf_counter()
        run(PreprocOptions(inp, out, threshold, SplitRule("reference")), echo=stages.append)
        seconds = time.perf_counter() - t
    finally:
        spark.stop()
    for s in stages:
        if "done in" in s:
            print(f"    {s}")
    print(json.dumps({"seconds": seconds}), flush=True)


def measure(code: Path, inp: Path, out: Path, args: argparse.Namespace) -> float:
    """Run `run_one` in a fresh process (its own JVM); echo its stage lines; return the pipeline seconds."""
    cmd = [sys.executable, __file__, "--child", str(inp), str(out), "--code", str(code), "--master", args.master,
           "--driver-memory", args.driver_memory, "--threshold", str(args.threshold)]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = proc.stdout.rstrip().splitlines()
    if proc.returncode != 0 or not lines:
        sys.exit(f"{code}: the pipeline failed:\n{proc.stderr[-3000:]}")
    print("\n".join(lines[:-1]))
    shutil.rmtree(out, ignore_errors=True)
    return float(json.loads(lines[-1])["seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="250000,1000000", help="comma-separated input sizes")
    parser.add_argument("--days", type=int, default=4)
    parser.add_argument("--threshold", type=int, default=15)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--driver-memory", default="4g")
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--code", action="append", type=Path,
                        help="checkout whose preproc/ to run (repeatable; default: this one)")
    parser.add_argument("--child", nargs=2, type=Path, metavar=("INPUT", "OUTPUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    codes = [c.resolve() for c in (args.code or [REPO])]
    if args.child:
        run_one(codes[0], *args.child, args.master, args.driver_memory, args.threshold)
        return
    for c in codes:
        if not (c / "preproc" / "pipeline.py").is_file():
            sys.exit(f"--code {c}: no preproc/pipeline.py there; pass the root of a dlrmbench checkout")
    sys.path.insert(0, str(REPO / "tests" / "preproc"))
    from reference_impl import preprocess as reference

    results = []
    work = Path(tempfile.mkdtemp(prefix="preproc-bench-"))
    try:
        for n in (int(x) for x in args.rows.split(",")):
            inp = generate(work / f"in{n}", n, args.days)
            mib = sum(p.stat().st_size for p in inp.iterdir()) / 2**20
            for code in codes:
                load_before = os.getloadavg()[0]
                print(f"  {n:,} rows, code {code}:")
                spark_s = measure(code, inp, work / f"out{n}", args)
                results.append((n, str(code), spark_s))
                print(f"{n:>10,} rows ({mib:.0f} MiB): spark {spark_s:7.1f} s = {n / spark_s:9,.0f} rows/s | "
                      f"load average {load_before:.1f} -> {os.getloadavg()[0]:.1f} | {code}", flush=True)
            if not args.no_reference:
                load_before = os.getloadavg()[0]
                t = time.perf_counter()
                reference(inp, work / f"ref{n}", args.threshold)
                ref_s = time.perf_counter() - t
                results.append((n, "python reference", ref_s))
                print(f"{n:>10,} rows ({mib:.0f} MiB): python reference {ref_s:7.1f} s = {n / ref_s:9,.0f} rows/s | "
                      f"load average {load_before:.1f} -> {os.getloadavg()[0]:.1f}", flush=True)
                shutil.rmtree(work / f"ref{n}", ignore_errors=True)
            shutil.rmtree(inp, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nmachine: {os.cpu_count()} cores, master {args.master}, {args.days} day files, "
          f"threshold {args.threshold}; load average {os.getloadavg()[0]:.1f}")
    print(f"{'rows':>10} {'rows/s':>10}  what")
    for n, what, s in results:
        print(f"{n:>10,} {n / s:>10,.0f}  {what}")


if __name__ == "__main__":
    main()
