"""Cost of ``dlrmbench report --html`` against the number of cases (issue 28: 86 s for 500 cases).

Writes one synthetic result set of N CPU training cases (2 repeats each, 200 step times, a host
telemetry timeline of 60 samples: what ``dlrmbench run`` records for a short case) and times the
report over it in a fresh process, for each N given. The figures to read are seconds per case
(flat when the cost is linear) and the HTML size. ``--other CMD`` times a second dlrmbench (another
checkout's console script, e.g. main's) on the same files, interleaved round by round. Usage:
    python bench/report_html.py --cases 500 1000 5000 [--rounds 1] [--other ../main/.venv/bin/dlrmbench]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def write_results(root: Path, cases: int, seed: int = 0) -> Path:
    """One run directory of ``cases`` cases x 2 repeats."""
    from dlrmbench.results.schema import CaseEntry, CaseResult, RunManifest, metric

    rng = random.Random(seed)
    run_dir = root / "bench-report" / "run1"
    (run_dir / "cases").mkdir(parents=True)
    manifest = RunManifest(suite="bench-report", suite_file="s.yaml", suite_sha256="0" * 64, run_id="run1",
                           dlrmbench_version="0", command=[], started_at="2026-01-01T00:00:00+00:00",
                           status="complete", environment={"cpu": "bench", "cpu_count": 2, "gpus": []})
    t = [0.5 * i for i in range(60)]
    for number in range(cases):
        name = f"train-{number:05d}-bs{rng.choice([512, 1024, 2048])}"
        for repeat in range(2):
            steps = [0.01 * (1 + 0.05 * rng.random()) for _ in range(200)]
            host = {"cpu_pct": [50.0 + rng.random() for _ in t], "memory_used_bytes": [2**30] * len(t),
                    "worker_cpu_pct": [100.0] * len(t), "worker_rss_bytes": [2**29] * len(t),
                    "worker_processes": [1] * len(t)}
            result = CaseResult(
                suite="bench-report", run_id="run1", case=name, repeat=repeat, status="ok",
                config={"mode": "train", "device": "cpu", "precision": "fp32", "batch_size": 1024, "gpus": 0,
                        "comparable": True, "reference": None},
                metrics={"train_throughput": metric(1024 / statistics.fmean(steps), "samples/s", True)},
                step_times_s=steps,
                telemetry={"enabled": True, "interval_ms": 500, "samples": len(t),
                           "gpu": {"recorded": False, "reason": "the case uses no GPU", "devices": []},
                           "host": {"recorded": True, "reason": None}, "error": None, "summary": {},
                           "marks": [], "timeline": {"t_s": t, "gpus": [], "host": host}})
            file = f"cases/{name}.r{repeat}.json"
            (run_dir / file).write_text(json.dumps(result.model_dump(mode="json")))
            manifest.cases.append(CaseEntry(case=name, repeat=repeat, status="ok", file=file))
    (run_dir / "run.json").write_text(json.dumps(manifest.model_dump(mode="json")))
    return run_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, nargs="+", default=[100, 500])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--other", default=None, help="another dlrmbench command to time on the same files")
    args = parser.parse_args()
    commands = {"this": [sys.executable, "-m", "dlrmbench"]}
    if args.other:
        commands["other"] = [args.other]
    print(f"{'dlrmbench':>9} {'cases':>6} {'seconds':>9} {'ms/case':>8} {'HTML MiB':>9}")
    for cases in args.cases:
        with tempfile.TemporaryDirectory() as tmp:
            run_dir = write_results(Path(tmp), cases)
            times: dict[str, list[float]] = {name: [] for name in commands}
            sizes: dict[str, int] = {}
            for _ in range(args.rounds):
                for name, command in commands.items():  # interleaved: the machine's state is shared
                    out = Path(tmp) / f"report-{name}.html"
                    start = time.perf_counter()
                    subprocess.run([*command, "report", str(run_dir), "--html", str(out)], cwd=tmp, check=True,
                                   capture_output=True, env={**os.environ, "PYTHONPATH": str(REPO)}
                                   if name == "this" else None)
                    times[name].append(time.perf_counter() - start)
                    sizes[name] = out.stat().st_size
            for name, measured in times.items():
                best = min(measured)
                print(f"{name:>9} {cases:>6} {best:>9.1f} {best / cases * 1000:>8.1f} {sizes[name] / 2**20:>9.2f}"
                      + (f"  (min of {len(measured)}; max {max(measured):.1f} s)" if len(measured) > 1 else ""))


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
