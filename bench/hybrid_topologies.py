"""dlrmbench's hybrid parallel versus TorchRec's DistributedModelParallel on the same case, interleaved.

Both topologies train the same case (torchrec_fused, multi-hot ids, 2 gloo ranks by default) through
`dlrmbench run` (torchrun, the same loop, timing and data); each round runs the two cases in one
`dlrmbench run` (the order alternates between rounds), and the per-round throughput ratio
DMP / dlrmbench is printed with the median. Needs `make torchrec`.

Usage: python bench/hybrid_topologies.py [--rounds 3] [--processes 2] [--batch 2048] [--steps 30]
          [--rows 100000] [--tables 8] [--dim 64]
Figures go in the engineer's note, never into a timed test.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TOPOLOGIES = ("dlrmbench", "torchrec_dmp")


def suite_text(args: argparse.Namespace, order: tuple[str, ...]) -> str:
    hotness = ([3, 2, 1, 1, 4, 1, 2, 1] * ((args.tables + 7) // 8))[:args.tables]
    cases = "\n".join(f"  - name: {t}\n    distributed: {{topology: {t}}}" for t in order)
    return f"""name: hybrid-topologies
defaults:
  mode: train
  device: cpu
  precision: fp32
  processes: {args.processes}
  batch_size: {args.batch}
  max_steps: {args.steps}
  benchmark_warmup_steps: 5
  test_batches: 1
  embedding: torchrec_fused
  model:
    table_sizes: {[args.rows] * args.tables}
    embedding_dim: {args.dim}
    bottom_mlp: [512, 256, {args.dim}]
    top_mlp: [1024, 512, 256, 1]
  optimizer: {{lr: 0.5, warmup_steps: 0, decay_start_step: null, decay_steps: 0}}
  dataset:
    name: synthetic
    options: {{train_samples: {args.batch * args.steps}, test_samples: {args.batch}, seed: 1,
               multi_hot_sizes: {hotness}}}
cases:
{cases}
"""


def run_round(args: argparse.Namespace, order: tuple[str, ...], where: Path) -> dict[str, float]:
    suite = where / "suite.yaml"
    suite.write_text(suite_text(args, order))
    out = where / "out"
    subprocess.run([sys.executable, "-m", "dlrmbench", "run", str(suite), "--output", str(out)], check=True,
                   cwd=REPO, stdout=subprocess.DEVNULL)
    rates = {}
    for path in out.rglob("cases/*.json"):
        record = json.loads(path.read_text())
        if record.get("status") != "ok":
            raise SystemExit(f"{record.get('case')}: {record.get('status')}: {record.get('reason')}")
        rates[record["case"]] = record["metrics"]["train_throughput"]["value"]
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--batch", type=int, default=2048)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--tables", type=int, default=8)
    parser.add_argument("--dim", type=int, default=64)
    args = parser.parse_args()
    ratios = []
    print(f"{args.tables} x {args.rows} x {args.dim}, batch {args.batch}, {args.processes} gloo ranks, "
          f"{args.steps} steps (5 warm-up), multi-hot, torchrec_fused, SGD")
    for r in range(args.rounds):
        order = TOPOLOGIES if r % 2 == 0 else TOPOLOGIES[::-1]
        with tempfile.TemporaryDirectory() as tmp:
            rates = run_round(args, order, Path(tmp))
        ratio = rates["torchrec_dmp"] / rates["dlrmbench"]
        ratios.append(ratio)
        print(f"round {r + 1} ({' then '.join(order)}): dlrmbench {rates['dlrmbench']:,.0f} samples/s, "
              f"torchrec_dmp {rates['torchrec_dmp']:,.0f} samples/s, DMP / dlrmbench {ratio:.3f}")
    print(f"median DMP / dlrmbench: {statistics.median(ratios):.3f} (min {min(ratios):.3f}, max {max(ratios):.3f})")


if __name__ == "__main__":
    main()
