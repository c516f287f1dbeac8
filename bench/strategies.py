"""Training throughput of every embedding strategy x backend on the CPU, at two shapes, in one run.

    .venv/bin/python bench/strategies.py            # both shapes (a few minutes on 2 cores)
    .venv/bin/python bench/strategies.py --shapes tiny --json /tmp/strategies.json

Shapes: ``tiny`` (4 small tables, dim 16, small MLPs, batch 256) and ``large`` (26 tables x 100,000
rows x dim 128, the default MLPs 512-256-128 / 1024-1024-512-256-1, batch 2048). Each cell is
training samples/s (forward, BCE loss, backward, SGD step with sparse table gradients) over the
measured steps after warm-up steps, and its ratio to eager + multi_table at the same shape. The
``dense_table`` row is the baseline the sparse strategies must beat: one ``nn.Embedding`` per
feature with ``sparse=False``, so every step computes and applies a gradient for every row.

Triton kernels (``joint_fused``, ``cuda_fused``) run in Triton's interpreter on the CPU: a
correctness tool whose speed means nothing, so they are timed at the tiny shape only and marked.
apex needs a GPU and is listed with its reason. Numbers are for this machine only.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from dataclasses import asdict, dataclass

os.environ.setdefault("TRITON_INTERPRET", "1")  # before anything imports triton (see kernels/launch.py)

import torch  # noqa: E402
from torch import nn  # noqa: E402

from dlrmbench.config.schema import Case  # noqa: E402
from dlrmbench.plugin_api import BuildContext  # noqa: E402
from dlrmbench.model.dlrm import build_dlrm  # noqa: E402
from dlrmbench.model.embeddings import EmbeddingStrategy  # noqa: E402
from dlrmbench_plugins.embeddings._tables import MultiTableEmbedding  # noqa: E402
from dlrmbench.plugins import get_registry  # noqa: E402

INTERPRETED = {"joint_fused", "cuda_fused"}


@dataclass(frozen=True)
class Shape:
    name: str
    table_sizes: tuple[int, ...]
    dim: int
    bottom: tuple[int, ...]
    top: tuple[int, ...]
    batch: int
    warmup: int
    steps: int


SHAPES = {
    "tiny": Shape("tiny", (100, 50, 20, 10), 16, (32, 16), (32, 16, 1), 256, 3, 30),
    "large": Shape("large", (100_000,) * 26, 128, (512, 256, 128), (1024, 1024, 512, 256, 1), 2048, 2, 4),
}


@dataclass
class Cell:
    shape: str
    backend: str
    embedding: str
    samples_per_s: float | None
    note: str = ""
    ratio: float | None = None


def make_batches(shape: Shape, count: int) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(0)
    sizes = torch.tensor(shape.table_sizes)
    out = []
    for _ in range(count):
        numerical = torch.randn(shape.batch, 13, generator=gen)
        categorical = (torch.rand(shape.batch, len(sizes), generator=gen, dtype=torch.float64) * sizes).long()
        label = torch.randint(0, 2, (shape.batch,), generator=gen).float()
        out.append((numerical, categorical, label))
    return out


def _case(shape: Shape) -> Case:
    return Case(name="bench", device="cpu", model={"bottom_mlp": list(shape.bottom), "top_mlp": list(shape.top),
                                                   "embedding_dim": shape.dim})


def build(backend: str, embedding: str, shape: Shape) -> nn.Module:
    registry = get_registry()
    bspec = registry.get("backend", backend)
    bopts = bspec.options.model_validate({"interpret": True} if "interpret" in bspec.options.model_fields else {})
    if embedding == "dense_table":
        emb: EmbeddingStrategy = MultiTableEmbedding(list(shape.table_sizes), shape.dim, sparse=False)
    else:
        espec = registry.get("embedding", embedding)
        eopts = espec.options.model_validate({"interpret": True} if "interpret" in espec.options.model_fields else {})
        emb = espec.build(BuildContext(_case(shape), eopts, tuple(shape.table_sizes)))
    return build_dlrm(bspec.build(BuildContext(_case(shape), bopts, tuple(shape.table_sizes))), emb, num_numerical=13, bottom_sizes=list(shape.bottom),
                      top_sizes=list(shape.top), interaction="dot", seed=1)


def time_training(model: nn.Module, batches: list, warmup: int) -> float:
    """Samples/s of the steps after ``warmup`` (SGD, lr 0.01, sparse or dense table gradients)."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    loss_fn = nn.BCEWithLogitsLoss()
    model.train()
    start = None
    for step, (numerical, categorical, label) in enumerate(batches):
        if step == warmup:
            start = time.perf_counter()
        loss = loss_fn(model(numerical, categorical), label)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    elapsed = time.perf_counter() - start
    return (len(batches) - warmup) * batches[0][0].shape[0] / elapsed


def run(shapes: list[str], backends: list[str], embeddings: list[str]) -> list[Cell]:
    from dlrmbench.host import current_host

    registry, host = get_registry(), current_host()
    cells: list[Cell] = []
    for shape_name in shapes:
        shape = SHAPES[shape_name]
        batches = make_batches(shape, shape.warmup + shape.steps)
        for backend in backends:
            reason = registry.get("backend", backend).availability(host, None, None)
            if backend in INTERPRETED:
                reason = None
            for embedding in embeddings:
                if embedding == "dense_table" and backend != "eager":
                    continue  # the baseline is a table question, not a backend one
                if reason:
                    cells.append(Cell(shape_name, backend, embedding, None, f"unavailable: {reason}"))
                    continue
                interpreted = backend in INTERPRETED or embedding in INTERPRETED
                if interpreted and shape_name != "tiny":
                    cells.append(Cell(shape_name, backend, embedding, None, "not timed: Triton interpreter"))
                    continue
                model = build(backend, embedding, shape)
                # The interpreter runs each program in Python: 1 warm-up + 2 timed steps are plenty.
                rate = time_training(model, batches[:3] if interpreted else batches, 1 if interpreted else shape.warmup)
                cells.append(Cell(shape_name, backend, embedding, rate, "interpreted" if interpreted else ""))
                print(f"  {shape_name:5s} {backend:10s} {embedding:12s} {rate:12.0f} samples/s", file=sys.stderr, flush=True)
                del model
                gc.collect()
    for cell in cells:
        base = next((c for c in cells if c.shape == cell.shape and c.backend == "eager"
                     and c.embedding == "multi_table"), None)
        if base and base.samples_per_s and cell.samples_per_s:
            cell.ratio = cell.samples_per_s / base.samples_per_s
    return cells


def render(cells: list[Cell]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Training samples/s on the CPU ({torch.get_num_threads()} threads, torch {torch.__version__}); "
                        "ratio to eager + multi_table", title_justify="left")
    for column in ("shape", "backend", "embedding", "samples/s", "ratio", "note"):
        table.add_column(column, justify="right" if column in ("samples/s", "ratio") else "left")
    for c in cells:
        table.add_row(c.shape, c.backend, c.embedding, "" if c.samples_per_s is None else f"{c.samples_per_s:,.0f}",
                      "" if c.ratio is None else f"{c.ratio:.2f}x", c.note)
    Console(width=160).print(table)
    for shape in sorted({c.shape for c in cells}):
        dense = next((c for c in cells if c.shape == shape and c.backend == "eager" and c.embedding == "dense_table"), None)
        if dense is None or not dense.samples_per_s:
            continue
        for c in cells:
            if c.shape == shape and c.backend == "eager" and c.samples_per_s and c.embedding != "dense_table":
                print(f"{shape}: eager {c.embedding} / dense_table = {c.samples_per_s / dense.samples_per_s:.2f}x")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shapes", default="tiny,large", help="comma-separated: tiny, large")
    parser.add_argument("--backends", default="eager,compiled,cuda_fused,apex_mlp")
    parser.add_argument("--embeddings", default="multi_table,joint,joint_sparse,joint_fused,dense_table")
    parser.add_argument("--json", help="also write the cells to this JSON file")
    args = parser.parse_args(argv)
    shapes = [s for s in args.shapes.split(",") if s]
    unknown = [s for s in shapes if s not in SHAPES]
    if unknown:
        parser.error(f"unknown shape(s) {unknown}; choose from {sorted(SHAPES)}")
    cells = run(shapes, args.backends.split(","), args.embeddings.split(","))
    render(cells)
    if args.json:
        from pathlib import Path

        from dlrmbench.results.store import atomic_write_text

        atomic_write_text(Path(args.json), json.dumps([asdict(c) for c in cells], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
