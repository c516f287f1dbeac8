"""Two checkouts of dlrmbench running one suite, interleaved: did a change move what the suite measures?

Usage:  python bench/suite_ab.py --code ../before --code . [--suite suites/quickstart.yaml] [--rounds 5]
                                 [--metric train_throughput_p50 --metric inference_throughput] [--only train]

Each round runs ``dlrmbench run SUITE`` once from every checkout, in turn (A B A B ...), each with the
checkout's own interpreter (``CHECKOUT/.venv/bin/python`` when it exists, else this one) and the checkout
first on ``PYTHONPATH``, so a process runs exactly that checkout's code. The run is the unit of replication:
per case and metric the bench prints each checkout's median over rounds with its min-max, and the ratio of
the medians (B / A) with the range of the per-round ratios, plus the load average seen before each run (the
machine may be shared: read the figures with it). Performance lives here, never in timed tests.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_METRICS = ("train_throughput", "train_throughput_p50", "inference_throughput", "auc")


def interpreter(checkout: Path) -> str:
    own = checkout / ".venv" / "bin" / "python"
    return str(own) if own.exists() else sys.executable


def run_once(checkout: Path, suite: Path, output: Path, only: tuple[str, ...] = ()) -> dict[tuple[str, str], float]:
    """One ``dlrmbench run`` of ``suite`` from ``checkout``: {(case, metric key): value}."""
    env = {**os.environ, "PYTHONPATH": str(checkout), "COLUMNS": "200"}
    selected = [arg for pattern in only for arg in ("--only", pattern)]
    done = subprocess.run([interpreter(checkout), "-m", "dlrmbench", "run", str(suite), "--output", str(output),
                           *selected], cwd=checkout, env=env, capture_output=True, text=True, timeout=3600)
    if done.returncode not in (0, 1):
        raise SystemExit(f"{checkout}: dlrmbench run failed ({done.returncode}):\n{done.stderr[-2000:]}")
    values = {}
    for path in output.rglob("*.json"):
        data = json.loads(path.read_text())
        if not isinstance(data, dict) or data.get("status") != "ok":
            continue
        for key, metric in (data.get("metrics") or {}).items():
            if isinstance(metric, dict) and isinstance(metric.get("value"), (int, float)):
                values[(data["case"], key)] = float(metric["value"])
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--code", action="append", type=Path, required=True, help="a checkout (give two)")
    parser.add_argument("--suite", type=Path, default=Path("suites/quickstart.yaml"))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--metric", action="append", help="metric name (prefix of the key); repeatable")
    parser.add_argument("--only", action="append", default=[], help="only cases matching (dlrmbench run --only)")
    args = parser.parse_args(argv)
    if len(args.code) != 2:
        parser.error("give exactly two --code checkouts (A, then B)")
    checkouts = [c.resolve() for c in args.code]
    wanted = tuple(args.metric or DEFAULT_METRICS)
    per: list[dict[tuple[str, str], list[float]]] = [{}, {}]
    with tempfile.TemporaryDirectory(prefix="dlrmbench-ab-") as tmp:
        for r in range(args.rounds):
            for i, checkout in enumerate(checkouts):
                load = os.getloadavg()[0]
                suite = (checkout / args.suite) if not args.suite.is_absolute() else args.suite
                values = run_once(checkout, suite, Path(tmp) / f"r{r}-{i}", tuple(args.only))
                print(f"round {r + 1} {'AB'[i]} ({checkout.name}): load {load:.1f}, {len(values)} values", flush=True)
                for key, value in values.items():
                    per[i].setdefault(key, []).append(value)
    print(f"\nA = {checkouts[0]}\nB = {checkouts[1]}\n{args.rounds} rounds, interleaved; medians [min-max]")
    keys = sorted(k for k in set(per[0]) & set(per[1]) if k[1].split("@")[0] in wanted or k[1].startswith(wanted))
    for case, key in keys:
        a, b = per[0][(case, key)], per[1][(case, key)]
        ratios = [y / x for x, y in zip(a, b) if x]
        ratio = statistics.median(b) / statistics.median(a) if statistics.median(a) else float("nan")
        print(f"{case:>28} {key:<34} A {statistics.median(a):>12,.4g} [{min(a):,.4g}-{max(a):,.4g}]  "
              f"B {statistics.median(b):>12,.4g} [{min(b):,.4g}-{max(b):,.4g}]  B/A {ratio:.3f} "
              f"[{min(ratios):.3f}-{max(ratios):.3f}]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
