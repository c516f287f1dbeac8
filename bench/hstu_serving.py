"""HSTU retrieval served under MLPerf LoadGen Offline: samples/s (users/s) by serving target on this machine.

The model is the ML-1M HSTU of suites/hstu-movielens.yaml (3,952 items, D 50, 2 STU layers, 1 head, histories up to
200; untrained: speed only) over synthetic users (--users, 20-200 interactions each); every LoadGen sample is one
user's history and held-out item, packed into jagged batches of up to --batch users. Targets: the served module in
eager PyTorch, torch.compile, and the checked TorchScript and ONNX Runtime exports. Per round every target runs one
--short Offline test (1 s minimum; not valid for submission), in one process, target order rotated each round.
Prints per target the median over rounds with min-max, and the ratio to eager PyTorch within each round.
Usage: python bench/hstu_serving.py [--rounds 3] [--batch 64] [--users 512] [--targets pytorch,torchscript,...]
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

ML1M = {"family": "hstu", "num_items": 3952, "item_embedding_dim": 50, "num_blocks": 2, "num_heads": 1, "dqk": 50,
        "dv": 50}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=64, help="batcher max_batch_size (users per model call)")
    parser.add_argument("--users", type=int, default=512, help="users in the sample library")
    parser.add_argument("--targets", default="pytorch,pytorch_compiled,torchscript,onnxruntime")
    args = parser.parse_args()

    import torch

    from dlrmbench.config.schema import Case, LoadgenConfig
    from dlrmbench.export.family_export import served_model
    from dlrmbench.export.family_serving import family_target, first_output
    from dlrmbench.loadgen.run import run_test
    from dlrmbench.loadgen.settings import RunSettings
    from dlrmbench.workload.build import build_workload, resolve

    targets = [t for t in args.targets.split(",") if t]
    scratch = Path(tempfile.mkdtemp(prefix="bench-hstu-serving-"))
    calls: dict[str, Any] = {}
    library = None
    for target in targets:
        case = Case.model_validate({
            "name": f"hstu-{target}", "device": "cpu", "mode": "serve", "model": ML1M,
            "dataset": {"name": "hstu_synthetic", "options": {"num_users": args.users, "num_items": 3952,
                                                              "num_clusters": 52, "min_length": 20, "max_length": 200}},
            "serve": {"target": target, "scenario": "offline", "samples": args.users, "short": True,
                      "batcher": {"max_batch_size": args.batch}}})
        work = build_workload(resolve(case))
        served = served_model(work)
        library = library or served.library(args.users, 0)
        (scratch / target).mkdir()
        predict, facts = family_target(work, served, scratch / target)
        call = first_output(predict)
        for _ in range(2):  # warm-up (torch.compile compiles here)
            call(library.prepare(list(range(min(args.batch, library.total_samples)))).inputs)
        calls[target] = (call, facts["serving_target"])
    assert library is not None
    tokens = int(library.jagged["offsets"][0][-1])  # history items over all users
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {library.total_samples} users, "
          f"{tokens / library.total_samples:.0f} history items per user on average; Offline batch {args.batch}")
    results: dict[str, list[float]] = {t: [] for t in targets}
    for r in range(args.rounds):
        order = targets[r % len(targets):] + targets[:r % len(targets)]
        for target in order:
            call, _ = calls[target]
            run = run_test(library, call, RunSettings("offline", LoadgenConfig(), library.total_samples, True,
                                                      calibrated={"expected_qps": 2000.0}),
                           scratch / f"r{r}-{target}", args.batch, 0.0, 1)
            results[target].append(run.summary.samples_per_s or float("nan"))
            print(f"round {r + 1}: {target:16s} {results[target][-1]:>9,.1f} users/s ({run.summary.verdict})",
                  flush=True)
    base = targets[0]
    print(f"\nOffline users/s: median [min-max] over {args.rounds} rounds; ratio to {base} within each round")
    for target in targets:
        values = results[target]
        ratios = [v / b for v, b in zip(values, results[base]) if b]
        print(f"  {target:16s} {statistics.median(values):>9,.1f} [{min(values):,.1f}-{max(values):,.1f}]  "
              f"x{statistics.median(ratios):.2f} [{min(ratios):.2f}-{max(ratios):.2f}]  ({calls[target][1]})")


if __name__ == "__main__":
    main()
