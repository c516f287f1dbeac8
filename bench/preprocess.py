"""Preprocessing throughput: the Spark pipeline vs the plain-Python reference, on generated input.

Usage:  python bench/preprocess.py [--rows 1000000,4000000] [--days 4] [--master local[2]] [--no-reference]
Prints rows per second for each input size (end-to-end `preproc.pipeline.run` wall time, Spark
session start excluded), the time of every stage, and the same for tests/preproc/reference_impl.py on
the same files, in one run, with the load average before and after each measurement (the machine
may be shared: read the figures with it). Performance lives here, never in timed tests.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "preproc")]


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="250000,1000000", help="comma-separated input sizes")
    parser.add_argument("--days", type=int, default=4)
    parser.add_argument("--threshold", type=int, default=15)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--driver-memory", default="4g")
    parser.add_argument("--no-reference", action="store_true")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")

    from reference_impl import preprocess as reference

    from preproc.options import PreprocOptions, SplitRule
    from preproc.pipeline import run
    from preproc.session import get_session

    spark, _ = get_session(args.master, {"spark.driver.memory": args.driver_memory,
                                         "spark.ui.showConsoleProgress": "false",
                                         "spark.sql.shuffle.partitions": "8"})
    results = []
    work = Path(tempfile.mkdtemp(prefix="preproc-bench-"))
    try:
        for n in (int(x) for x in args.rows.split(",")):
            inp = generate(work / f"in{n}", n, args.days)
            mib = sum(p.stat().st_size for p in inp.iterdir()) / 2**20
            load_before = os.getloadavg()[0]
            t = time.perf_counter()
            stages: list[str] = []
            run(PreprocOptions(inp, work / f"out{n}", args.threshold, SplitRule("reference")), echo=stages.append)
            spark_s = time.perf_counter() - t
            for s in stages:
                if "done in" in s:
                    print(f"    {s}")
            ref_s = float("nan")
            if not args.no_reference:
                t = time.perf_counter()
                reference(inp, work / f"ref{n}", args.threshold)
                ref_s = time.perf_counter() - t
            results.append((n, mib, spark_s, ref_s))
            print(f"{n:>10,} rows ({mib:.0f} MiB): spark {spark_s:7.1f} s = {n / spark_s:9,.0f} rows/s | "
                  f"python reference {ref_s:7.1f} s = {n / ref_s:9,.0f} rows/s | load average "
                  f"{load_before:.1f} -> {os.getloadavg()[0]:.1f}", flush=True)
            shutil.rmtree(work / f"out{n}", ignore_errors=True)
            shutil.rmtree(work / f"ref{n}", ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        spark.stop()
    print(f"\nmachine: {os.cpu_count()} cores, master {args.master}, {args.days} day files, "
          f"threshold {args.threshold}; load average {os.getloadavg()[0]:.1f}")
    print(f"{'rows':>10} {'spark rows/s':>14} {'python rows/s':>14}")
    for n, _, s, r in results:
        print(f"{n:>10,} {n / s:>14,.0f} {n / r:>14,.0f}")


if __name__ == "__main__":
    main()
