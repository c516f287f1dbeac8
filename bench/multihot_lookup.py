"""Multi-hot pooled lookup throughput at MLPerf DLRMv2's hotness on the CPU, with FBGEMM's byte count.

    .venv/bin/python bench/multihot_lookup.py                  # 26 x 100,000 rows x dim 128, batch 2048
    .venv/bin/python bench/multihot_lookup.py --rows 20000 --batch 512 --repeats 5

What is timed (sum pooling, fp32 tables, ids of the MLPerf hotness 3,2,1,...,1 = 214 a sample drawn by the
reference's uniform multi-hot map):

- ``multi_table``: one ``nn.EmbeddingBag`` per feature (what a per-table strategy does with bags);
- ``joint``: one table of all rows, ids shifted by their feature's offset, one ``F.embedding_bag`` call
  over the KeyedJaggedTensor layout (what the joint strategies do with bags);
- ``joint_fused``: the Triton bag kernel (:mod:`dlrmbench_plugins.kernels.bag`), which on the CPU runs in
  Triton's interpreter: timed at a tiny size only, to show it runs; its speed means nothing.

GB/s follows FBGEMM's TBE benchmark (reference/dlrmv2-and-methods.md section 3): forward bytes =
pooled output bytes + rows read = ``4 * B * F * D + 4 * B * D * sum(L_f)``; forward+backward counts twice
that. Variants are measured interleaved (A, B, A, B, ...) and the median of the repeats is printed with
the spread, because the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TRITON_INTERPRET", "1")

import torch  # noqa: E402
from torch import nn  # noqa: E402

from dlrmbench.batch import SparseFeatures  # noqa: E402
from dlrmbench_plugins.datasets._multihot import MLPERF_HOTNESS, MultiHotExpander  # noqa: E402


def forward_bytes(batch: int, hotness: list[int], dim: int) -> int:
    return 4 * batch * len(hotness) * dim + 4 * batch * dim * sum(hotness)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--batch", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    sizes, hot, dim, batch = [args.rows] * 26, MLPERF_HOTNESS, args.dim, args.batch
    gen = torch.Generator().manual_seed(0)
    one_hot = torch.stack([torch.randint(0, n, (batch,), generator=gen) for n in sizes], dim=1)
    features = MultiHotExpander(sizes, hot, "uniform")(one_hot)
    ids = SparseFeatures.from_fixed(features)
    offsets = ids.bag_offsets()
    table_offsets = torch.tensor([0] + sizes[:-1]).cumsum(0)
    joint_values = torch.cat([t.reshape(-1) + table_offsets[i] for i, t in enumerate(features)])
    bags = [nn.EmbeddingBag(n, dim, mode="sum", sparse=True) for n in sizes]
    joint = nn.Parameter(torch.cat([b.weight.detach() for b in bags]))
    per_feature = [(t.reshape(-1), torch.arange(0, batch * h, h)) for t, h in zip(features, hot)]

    def multi_table(backward: bool) -> None:
        out = torch.stack([bag(v, o) for bag, (v, o) in zip(bags, per_feature)], dim=1)
        if backward:
            out.sum().backward()

    def joint_bag(backward: bool) -> None:
        out = nn.functional.embedding_bag(joint_values, joint, offsets[:-1], mode="sum", sparse=True)
        if backward:
            out.sum().backward()

    variants = {"multi_table": multi_table, "joint": joint_bag}
    fwd = forward_bytes(batch, hot, dim)
    print(f"tables 26 x {args.rows:,} rows x dim {dim}, batch {batch}, {sum(hot)} ids a sample (MLPerf hotness), "
          f"{args.threads} thread(s); forward bytes a batch {fwd / 1e6:.1f} MB (FBGEMM formula)")
    for backward in (False, True):
        times: dict[str, list[float]] = {k: [] for k in variants}
        for fn in variants.values():
            fn(backward)  # warm-up
        for _ in range(args.repeats):
            for name, fn in variants.items():
                for p in [joint, *[b.weight for b in bags]]:
                    p.grad = None
                start = time.perf_counter()
                for _ in range(args.iters):
                    fn(backward)
                times[name].append((time.perf_counter() - start) / args.iters)
        what = "forward+backward" if backward else "forward"
        counted = fwd * (2 if backward else 1)
        for name, t in times.items():
            med = statistics.median(t)
            spread = (max(t) - min(t)) / med * 100
            print(f"{what:<17} {name:<12} {med * 1e3:9.2f} ms  {counted / med / 1e9:7.2f} GB/s  "
                  f"{batch / med:12,.0f} samples/s  (spread {spread:.0f}% over {args.repeats} repeats)")
        base = statistics.median(times["multi_table"])
        print(f"{what:<17} joint / multi_table speed ratio {base / statistics.median(times['joint']):.2f}x")
    from dlrmbench_plugins.kernels.bag import FusedBag

    tiny_batch = 4
    tiny = SparseFeatures.from_fixed(
        MultiHotExpander([64] * 26, hot, "uniform")(torch.randint(0, 64, (tiny_batch, 26), generator=gen)))
    weight = torch.randn(64 * 26, dim)
    start = time.perf_counter()
    out = FusedBag.apply(weight, tiny.values, tiny.bag_offsets(), torch.arange(0, 64 * 26, 64), tiny_batch,
                         torch.float32)
    print(f"joint_fused (Triton bag kernel, interpreted): batch {tiny_batch} forward in "
          f"{time.perf_counter() - start:.2f} s, output {tuple(out.shape)} (interpreter: speed means nothing)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
