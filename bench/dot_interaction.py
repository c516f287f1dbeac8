"""The dot interaction's parts at NVIDIA's shape, timed interleaved: where its time goes on this CPU.

    .venv/bin/python bench/dot_interaction.py --rounds 5

Batch 2048, 27 vectors (the bottom MLP's and 26 embeddings) of 128. Per round, each part once (30 calls,
median): the forward Gram ``bmm`` (27 x 128 x 27 per sample), the backward's ``bmm`` (27 x 27 x 128), and the
two ways of building the backward's symmetric gradient ``S`` from the pair gradients: ``scatter`` (zero-fill
``S`` and ``index_copy_`` the pairs into both triangles: the code before) and ``gather`` (one
``index_select`` from the pairs and a zero column: :func:`dlrmbench.model.dot_autograd.symmetric_index`).
Prints each part's median over rounds with min-max, GFLOP/s for the ``bmm`` s, and gather / scatter per round.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dlrmbench.model.dot_autograd import symmetric_index  # noqa: E402

BATCH, VECTORS, DIM = 2048, 27, 128


def median_ms(fn: Callable[[], object], calls: int = 30) -> float:
    fn()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    gen = torch.Generator().manual_seed(0)
    n, pairs = VECTORS, VECTORS * (VECTORS - 1) // 2
    vectors = torch.randn(BATCH, n, DIM, generator=gen)
    grad = torch.randn(BATCH, DIM + pairs + 1, generator=gen)  # the interaction output's gradient
    rows, cols = torch.tril_indices(n, n, offset=-1)
    lower, upper = rows * n + cols, cols * n + rows
    index = symmetric_index(lower, upper, n)

    def scatter() -> torch.Tensor:
        out = grad.new_zeros(BATCH, n * n)
        out.index_copy_(1, lower, grad[:, DIM:DIM + pairs])
        out.index_copy_(1, upper, grad[:, DIM:DIM + pairs])
        return out

    def gather() -> torch.Tensor:
        return torch.nn.functional.pad(grad[:, DIM:DIM + pairs], (0, 1)).index_select(1, index)

    if not torch.equal(scatter(), gather()):
        raise SystemExit("gather and scatter built different S")
    symmetric = gather().view(BATCH, n, n)
    parts = {
        "forward bmm (V V^T)": (lambda: torch.bmm(vectors, vectors.transpose(1, 2)), 2 * BATCH * n * n * DIM),
        "backward bmm (S V)": (lambda: torch.bmm(symmetric, vectors), 2 * BATCH * n * n * DIM),
        "S by scatter (before)": (scatter, None),
        "S by gather (now)": (gather, None),
    }
    times: dict[str, list[float]] = {name: [] for name in parts}
    for _ in range(args.rounds):
        for name, (fn, _flops) in parts.items():
            times[name].append(median_ms(fn))
    print(f"dot interaction, batch {BATCH}, {n} vectors of {DIM}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; {args.rounds} interleaved rounds, median (min-max) ms")
    for name, (_fn, flops) in parts.items():
        values = times[name]
        rate = f"  {flops / (statistics.median(values) / 1e3) / 1e9:6.1f} GFLOP/s" if flops else ""
        print(f"  {name:24s} {statistics.median(values):7.2f} ({min(values):.2f}-{max(values):.2f}){rate}")
    ratio = [g / s for g, s in zip(times["S by gather (now)"], times["S by scatter (before)"])]
    print(f"  gather / scatter per round: {statistics.median(ratio):.2f} ({min(ratio):.2f}-{max(ratio):.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
