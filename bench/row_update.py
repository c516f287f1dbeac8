"""The in-backward table update alone, fused against scatter, interleaved in one process.

    .venv/bin/python bench/row_update.py [--rounds 5]

What one backward's update of ``joint_sgd_in_backward`` / ``joint_adagrad_in_backward`` costs, without the
rest of the step (whose noise hides it in ``bench/cpu_path.py``): NVIDIA's one-hot shape (26 x 100k x 128,
batch 2048, SGD) and DLRMv2's multi-hot one (MLPerf hotness, batch 1024, Adagrad), each with
``row_update: scatter`` (the path before), ``fused``, and ``fused`` on a bfloat16 table with stochastic
rounding. Every round times each contestant's update on the same ids and gradients, in turn; the table
shows the median milliseconds with min-max, and each contestant's median ratio to scatter.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace

import torch

from strategies import SHAPES, make_batches  # noqa: E402 (bench/ is on sys.path)

from dlrmbench_plugins.embeddings._in_backward import JointAdagradInBackward, JointSgdInBackward  # noqa: E402
from dlrmbench_plugins.embeddings.in_backward import InBackwardOptions  # noqa: E402

CONTESTANTS = {"scatter": {"row_update": "scatter"}, "fused": {"row_update": "fused"},
               "fused bf16-table": {"table_dtype": "bfloat16"}}


def update_inputs(multi_hot: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, int]:
    """(ids, gradient rows, bag of each id or None, dim) of one backward at the shape."""
    shape = replace(SHAPES["multihot"], batch=1024) if multi_hot else SHAPES["large"]
    (_, categorical, _), = make_batches(shape, 1)
    offsets = torch.tensor([0, *shape.table_sizes[:-1]]).cumsum(0)
    generator = torch.Generator().manual_seed(1)
    if multi_hot:
        ids = categorical.values + offsets[categorical.feature_of_values()]
        bags = categorical.bag_offsets()
        bag_of_id = torch.arange(bags.numel() - 1).repeat_interleave(bags.diff())
        return ids, torch.randn(bags.numel() - 1, shape.dim, generator=generator), bag_of_id, shape.dim
    ids = (categorical + offsets).reshape(-1)
    return ids, torch.randn(ids.numel(), shape.dim, generator=generator), None, shape.dim


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {args.rounds} interleaved rounds")
    for multi_hot, cls, label in ((False, JointSgdInBackward, "one-hot SGD, batch 2048"),
                                  (True, JointAdagradInBackward, "multi-hot Adagrad, batch 1024")):
        ids, grad, bag_of_id, dim = update_inputs(multi_hot)
        tables = {}
        for name, options in CONTESTANTS.items():
            table = cls(list(SHAPES["large"].table_sizes), dim, options=InBackwardOptions(**options))
            table.weight.data.normal_(0, 0.01)  # any values: the update's cost does not depend on them
            table.set_learning_rate(0.01)
            tables[name] = table
        times: dict[str, list[float]] = {name: [] for name in tables}
        with torch.no_grad():
            for _ in range(args.rounds + 1):  # the first round warms up and is dropped
                for name, table in tables.items():
                    start = time.perf_counter()
                    table.apply_lookup_gradients(table.weight, ids, grad, bag_of_id)
                    times[name].append(1e3 * (time.perf_counter() - start))
        print(f"\n{label}: {ids.numel():,} ids, {ids.unique().numel():,} distinct rows")
        base = statistics.median(times["scatter"][1:])
        for name, values in times.items():
            kept = values[1:]
            print(f"  {name:18s} {statistics.median(kept):8.1f} ms ({min(kept):.1f}-{max(kept):.1f})  "
                  f"{base / statistics.median(kept):.2f}x scatter's speed")
        del tables
    return 0


if __name__ == "__main__":
    sys.exit(main())
