"""Serving targets side by side under MLPerf LoadGen (Offline and Server), per serving precision.

The quickstart-sized DLRM of suites/loadgen-cpu.yaml (untrained: speed only), served by every target this
machine runs, in every serving precision: eager and compiled PyTorch, and the TorchScript and onnxruntime
exports (dlrmbench export --precision, checked against eager first), each in fp32, int8 (8-bit tables) and
bf16 (only where the CPU has native bf16, and only on runtimes with bf16 kernels; a skipped target is printed
with its reason). Per round and target, in one process, interleaved (target order rotated each round): one
LoadGen Offline run (samples/s) and a Server QPS search (highest VALID rate of a bounded bisection; --no-server
leaves it out). Runs are --short (1 s minimum duration; not valid for submission).

Prints per target the median over rounds and the min-max, the ratio to eager fp32 computed within each round
(median and min-max of those ratios), and the best target per precision.
Usage: python bench/loadgen_targets.py [--rounds 3] [--offline-batch 2048] [--server-batch 256] [--no-server]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


TARGETS = ("pytorch", "pytorch_compiled", "torchscript", "onnxruntime")


def targets() -> tuple[list[tuple[str, str]], list[str]]:
    """(target, precision) pairs this machine runs, and a line for each it cannot, with the reason."""
    from dlrmbench.cpu_features import native_bf16_reason
    from dlrmbench.export.requirements import onnxruntime_bf16_reason

    out = [(t, p) for p in ("fp32", "int8") for t in TARGETS]
    skipped = []
    for target in TARGETS:
        why = native_bf16_reason() or (onnxruntime_bf16_reason() if target == "onnxruntime" else None)
        if why:
            skipped.append(f"{target} bf16: {why}")
        else:
            out.append((target, "bf16"))
    return out, skipped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--offline-batch", type=int, default=2048, help="batcher max_batch_size for Offline")
    parser.add_argument("--server-batch", type=int, default=256, help="batcher max_batch_size for Server")
    parser.add_argument("--server-wait-ms", type=float, default=2.0)
    parser.add_argument("--latency-ms", type=float, default=60.0, help="Server p99 bound (DLRMv2's 60 ms)")
    parser.add_argument("--search", default="500,64000,6", help="lower,upper,max_runs of the Server search")
    parser.add_argument("--no-server", action="store_true", help="Offline only")
    args = parser.parse_args()

    import torch

    from dlrmbench.config.loader import load_suite
    from dlrmbench.config.schema import LoadgenConfig, SearchConfig
    from dlrmbench.loadgen.run import run_test
    from dlrmbench.loadgen.search import search_qps
    from dlrmbench.loadgen.settings import RunSettings
    from dlrmbench.workload.build import build_workload, resolve
    from dlrmbench.export.serve_loadgen import build_library, build_target, model_call

    suite = load_suite(REPO / "suites" / "loadgen-cpu.yaml")
    base = next(c for c in suite.cases if c.name == "offline-eager-fp32")
    pairs, skipped = targets()
    lower, upper, runs = args.search.split(",")
    search = SearchConfig(lower_qps=float(lower), upper_qps=float(upper), max_runs=int(runs), tolerance=0.05)
    calls: dict[tuple[str, str], Any] = {}
    scratch = Path(tempfile.mkdtemp(prefix="bench-loadgen-"))
    library = None
    for target, precision in pairs:
        serve = base.serve.model_copy(update={"target": target, "precision": precision, "rows_per_sample": 1})
        case = base.model_copy(update={"serve": serve})
        work = build_workload(resolve(case))
        library = library or build_library(work)
        folder = scratch / f"{target}-{precision}"
        folder.mkdir()
        predict, facts = build_target(work, folder)
        call = model_call(predict)
        for _ in range(3):  # warm-up (torch.compile compiles here)
            call(library.prepare(list(range(min(args.offline_batch, library.total_samples)))).inputs)
        calls[(target, precision)] = (call, facts["serving_target"])
    for line in skipped:
        print(f"not run: {line}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"library {library.total_samples} samples of 1 row; Offline batch {args.offline_batch}; Server batch "
          f"{args.server_batch}, wait {args.server_wait_ms} ms, p99 <= {args.latency_ms} ms, search {args.search}")
    keys = list(calls)
    offline: dict[Any, list[float]] = {k: [] for k in keys}
    server: dict[Any, list[float]] = {k: [] for k in keys}
    for r in range(args.rounds):
        order = keys[r % len(keys):] + keys[:r % len(keys)]
        for key in order:
            call, _ = calls[key]
            folder = scratch / f"r{r}-{key[0]}-{key[1]}"
            run = run_test(library, call, RunSettings("offline", LoadgenConfig(), library.total_samples, True,
                                                      calibrated={"expected_qps": 2e5}),
                           folder / "offline", args.offline_batch, 0.0, 1)
            offline[key].append(run.summary.samples_per_s or float("nan"))
            if args.no_server:
                print(f"round {r + 1}: {key[0]:16s} {key[1]}: Offline {offline[key][-1]:>10,.0f} samples/s "
                      f"({run.summary.verdict})", flush=True)
                continue
            config = LoadgenConfig(target_latency_ms=args.latency_ms)
            found = search_qps(lambda q: run_test(library, call, RunSettings("server", config, library.total_samples,
                                                                             True, q),
                                                  folder / f"server-{q:g}", args.server_batch, args.server_wait_ms, 1),
                               search)
            server[key].append(found.best_qps or 0.0)
            print(f"round {r + 1}: {key[0]:16s} {key[1]}: Offline {offline[key][-1]:>10,.0f} samples/s "
                  f"({run.summary.verdict}); Server peak {server[key][-1]:>8,.0f} QPS ({found.ended})", flush=True)

    def table(name: str, data: dict[Any, list[float]], unit: str) -> None:
        base_key = ("pytorch", "fp32")
        print(f"\n{name}: median [min-max] over {args.rounds} rounds; ratio to eager fp32 within each round")
        best: dict[str, tuple[float, Any]] = {}
        for key in keys:
            values = data[key]
            ratios = [v / b for v, b in zip(values, data[base_key]) if b]
            med = statistics.median(values)
            print(f"  {key[0]:16s} {key[1]:5s} {med:>12,.0f} {unit} [{min(values):,.0f}-{max(values):,.0f}]  "
                  f"x{statistics.median(ratios):.2f} [{min(ratios):.2f}-{max(ratios):.2f}]  ({calls[key][1]})")
            if med > best.get(key[1], (-1.0, None))[0]:
                best[key[1]] = (med, key[0])
        for precision, (value, target) in best.items():
            print(f"  best {precision}: {target} ({value:,.0f} {unit})")

    table("Offline", offline, "samples/s")
    if not args.no_server:
        table("Server (highest VALID target QPS of the search)", server, "QPS")
    import shutil

    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
