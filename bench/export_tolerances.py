"""Where the per-precision tolerances of ``dlrmbench export --check`` come from (dlrmbench/export/check.py).

For each seed and model shape, the seeded model, untrained and trained (``--steps`` SGD steps at the
loadgen-cpu suite's learning rate on synthetic data: trained weights and activations are larger, and so are the
quantisation errors), is exported in every precision and format this machine's runtimes run, and checked by
``check_export`` itself (the check's own inputs: batch sizes 1, 7 and
256 of random ids and N(0, 1) features): the error is ``max |exported - eager fp32| / max(1, max |eager fp32|)``
on the logits. Prints per precision and format the largest, median and smallest error over the runs, and the
tolerance the rule gives: 3 x the largest, rounded up to one significant figure.
Usage: python bench/export_tolerances.py [--seeds 5] [--steps 64]
"""

from __future__ import annotations

import argparse
import math
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

#: (name, embedding, interaction, hash_indices, model fields): the export tests' two shapes and the quickstart's.
SHAPES = [
    ("small-dot", "joint", "dot", False, {"bottom_mlp": [16, 8], "top_mlp": [32, 16, 1], "embedding_dim": 8,
                                          "table_sizes": [10, 200, 3000, 7, 1]}),
    ("small-cat-hashed", "multi_table", "cat", True, {"bottom_mlp": [16, 8], "top_mlp": [32, 16, 1],
                                                      "embedding_dim": 8, "table_sizes": [10, 200, 3000, 7, 1]}),
    ("quickstart", "joint", "dot", False, {"bottom_mlp": [64, 32, 16], "top_mlp": [64, 32, 1], "embedding_dim": 16,
                                           "table_sizes": [1000, 500, 200, 100, 50, 20, 10, 5] * 3 + [3, 2]}),
]
PRECISIONS = [("bf16", 8), ("int8", 8), ("int8", 4)]


def rounded_up(value: float) -> float:
    """``value`` rounded up to one significant figure."""
    if value <= 0:
        return 0.0
    exponent = math.floor(math.log10(value))
    return math.ceil(value / 10 ** exponent) * 10 ** exponent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=64, help="training steps of the trained models (batch 1024)")
    parser.add_argument("--margin", type=float, default=3.0)
    args = parser.parse_args()

    import io

    from dlrmbench.config.schema import Case
    from dlrmbench.export.check import TOLERANCES, check_export, tolerance_key
    from dlrmbench.export.exporter import ExportSettings, export
    from dlrmbench.workload.build import build_workload, resolve
    from dlrmbench.workload.reporter import Reporter
    from dlrmbench.workload.train import train

    from dlrmbench.export.requirements import onnxruntime_bf16_reason

    ort_bf16 = onnxruntime_bf16_reason()  # None where onnxruntime runs bf16 graphs
    errors: dict[tuple[str, str, str], list[float]] = {}
    skipped: dict[tuple[str, str], str] = {}
    scratch = Path(tempfile.mkdtemp(prefix="bench-export-tol-"))
    try:
        for seed in range(args.seeds):
            for name, embedding, interaction, hashed, model in SHAPES:
                case = Case.model_validate({
                    "name": name, "device": "cpu", "embedding": embedding, "seed": seed, "batch_size": 1024,
                    "max_steps": args.steps, "dataset": {"name": "synthetic", "options": {
                        "train_samples": 1024 * args.steps, "test_samples": 2048, "seed": seed}},
                    "optimizer": {"lr": 1.0, "warmup_steps": 20, "decay_start_step": 48, "decay_steps": 16},
                    "model": {**model, "interaction": interaction, "hash_indices": hashed}})
                work = build_workload(resolve(case))
                source = {"interaction": interaction, "hotness": None}
                for state in ("untrained", "trained"):
                    if state == "trained":
                        train(work, Reporter(io.StringIO()))
                    net = work.model.eval()
                    for precision, bits in PRECISIONS:
                        out = scratch / f"{name}-{seed}-{state}-{precision}-{bits}"
                        formats = ("torchscript",) if precision == "bf16" and ort_bf16 else ("onnx", "torchscript")
                        manifest = export(net, source, ExportSettings(output=out, precision=precision,  # type: ignore[arg-type]
                                                                      table_bits=bits, formats=formats))  # type: ignore[arg-type]
                        key = tolerance_key(manifest["precision"])
                        for fmt, result in check_export(net, out, manifest).items():
                            if result["passed"] is None:
                                skipped[(key, fmt)] = result["skipped"]
                                continue
                            scale = result["tolerance"] / TOLERANCES[key]  # max(1, max |eager|)
                            errors.setdefault((key, fmt, state), []).append(result["max_abs_diff"] / scale)
                        shutil.rmtree(out)
            print(f"seed {seed} done", flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"\n{args.seeds} seeds x {len(SHAPES)} shapes; error = max|exported - eager fp32| / max(1, max|eager|)")
    print(f"{'precision':11} {'format':12} {'model':10} {'runs':>4} {'largest':>10} {'median':>10} {'smallest':>10}")
    for (key, fmt, state), values in sorted(errors.items()):
        print(f"{key:11} {fmt:12} {state:10} {len(values):>4} {max(values):>10.3g} "
              f"{statistics.median(values):>10.3g} {min(values):>10.3g}")
    print(f"\n{'precision':11} {'largest of all':>14} {'x' + format(args.margin, 'g') + ', rounded up':>16} "
          f"{'in check.py':>12}")
    for key in sorted({k for k, _, _ in errors}):
        worst = max(max(v) for (k, _, _), v in errors.items() if k == key)
        print(f"{key:11} {worst:>14.3g} {rounded_up(args.margin * worst):>16g} {TOLERANCES[key]:>12g}")
    for (key, fmt), why in sorted(skipped.items()):
        print(f"{key:11} {fmt:12} not run: {why}")
    if ort_bf16:
        print(f"bf16        onnx         not exported: {ort_bf16}")


if __name__ == "__main__":
    main()
