"""Training throughput of every embedding strategy x backend on the CPU, at two shapes, in one run.

    .venv/bin/python bench/strategies.py            # both shapes (a few minutes on 2 cores)
    .venv/bin/python bench/strategies.py --shapes large --backends eager --peer-dlrm ../dlrm --rounds 3
    .venv/bin/python bench/strategies.py --shapes tiny --json /tmp/strategies.json

Shapes: ``tiny`` (4 small tables, dim 16, small MLPs, batch 256), ``large`` (NVIDIA's shape: 26
tables x 100,000 rows x dim 128, one id per feature, the default MLPs 512-256-128 /
1024-1024-512-256-1, batch 2048) and ``multihot`` (``large`` with MLPerf DLRMv2's hotness: 3, 2, 1,
..., 100, 27, ... ids per feature, 214 per sample, sum-pooled; still the dot interaction, so that
facebookresearch/dlrm, which has no cross network, runs the same model). Strategies that take one
id per feature only are listed at ``multihot`` with that reason. Each cell is training samples/s (forward, BCE loss, backward,
SGD step; sparse table gradients, or SGD inside backward for the strategies that fuse it) over the
measured steps after warm-up steps. The contestants run in interleaved rounds (A, B, C, A, B, C,
...), each built afresh per round (one model in memory at a time), so load that drifts during the
run hits all of them alike; a cell is the median over rounds, and its ratios (to eager +
multi_table, and to facebookresearch/dlrm's ``DLRM_Net`` when ``--peer-dlrm PATH`` names a clone of
that repository) are the medians of the per-round ratios, with their min-max spread as the noise.
The ``dense_table`` row is one ``nn.Embedding`` per feature with ``sparse=False`` (every row updated
every step): the baseline the sparse strategies must beat. ``torchrec`` and ``torchrec_fused``
need ``make torchrec``; unavailable strategies are listed with their reason.

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
import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Any

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
    hotness: tuple[int, ...] | None = None  # ids per feature (multi-hot), None: one id per feature


def _mlperf_hotness() -> tuple[int, ...]:
    from dlrmbench_plugins.datasets.mlperf_npy import MLPERF_HOTNESS

    return tuple(MLPERF_HOTNESS)


SHAPES = {
    "tiny": Shape("tiny", (100, 50, 20, 10), 16, (32, 16), (32, 16, 1), 256, 3, 30),
    "large": Shape("large", (100_000,) * 26, 128, (512, 256, 128), (1024, 1024, 512, 256, 1), 2048, 1, 3),
    "multihot": Shape("multihot", (100_000,) * 26, 128, (512, 256, 128), (1024, 1024, 512, 256, 1), 2048, 1, 3,
                      _mlperf_hotness()),
}


@dataclass
class Cell:
    shape: str
    backend: str
    embedding: str
    samples_per_s: float | None
    note: str = ""
    ratio: float | None = None
    ratio_spread: tuple[float, float] | None = None
    vs_peer: float | None = None
    vs_peer_spread: tuple[float, float] | None = None
    rounds: list[float] = field(default_factory=list)


PEER = ("dlrm", "DLRM_Net")  # (backend, embedding) labels of facebookresearch/dlrm's row
BASELINE = ("eager", "multi_table")


def make_batches(shape: Shape, count: int) -> list[tuple[torch.Tensor, Any, torch.Tensor]]:
    """Uniform random ids: ``(B, F)`` one-hot, or fixed-hotness ``SparseFeatures`` at a multi-hot shape."""
    from dlrmbench.batch import SparseFeatures

    gen = torch.Generator().manual_seed(0)
    sizes = torch.tensor(shape.table_sizes)
    out = []
    for _ in range(count):
        numerical = torch.randn(shape.batch, 13, generator=gen)
        if shape.hotness is None:
            categorical = (torch.rand(shape.batch, len(sizes), generator=gen, dtype=torch.float64) * sizes).long()
        else:
            categorical = SparseFeatures.from_fixed([
                (torch.rand(shape.batch, hot, generator=gen, dtype=torch.float64) * rows).long()
                for rows, hot in zip(shape.table_sizes, shape.hotness)])
        label = torch.randint(0, 2, (shape.batch,), generator=gen).float()
        out.append((numerical, categorical, label))
    return out


def _case(shape: Shape, optimizer: str = "sgd") -> Case:
    return Case(name="bench", device="cpu", model={"bottom_mlp": list(shape.bottom), "top_mlp": list(shape.top),
                                                   "embedding_dim": shape.dim}, optimizer={"name": optimizer})


def build(backend: str, embedding: str, shape: Shape, options: dict[str, Any] | None = None,
          interaction: str = "dot", optimizer: str = "sgd") -> nn.Module:
    """A DLRM of ``shape`` (``interaction`` dot, or dcnv2 for DLRMv2); ``options``: the embedding plugin's;
    ``optimizer``: the one the case names (strategies that fuse it into backward read it)."""
    registry = get_registry()
    bspec = registry.get("backend", backend)
    bopts = bspec.options.model_validate({"interpret": True} if "interpret" in bspec.options.model_fields else {})
    case = _case(shape, optimizer)
    if embedding == "dense_table":
        emb: EmbeddingStrategy = MultiTableEmbedding(list(shape.table_sizes), shape.dim, sparse=False)
    else:
        espec = registry.get("embedding", embedding)
        given = {"interpret": True} if "interpret" in espec.options.model_fields else {}
        emb = espec.build(BuildContext(case, espec.options.model_validate({**given, **(options or {})}),
                                       tuple(shape.table_sizes)))
    return build_dlrm(bspec.build(BuildContext(case, bopts, tuple(shape.table_sizes))), emb, num_numerical=13,
                      bottom_sizes=list(shape.bottom), top_sizes=list(shape.top), interaction=interaction, seed=1)


def dense_optimizer(model: nn.Module, name: str, lr: float) -> torch.optim.Optimizer:
    """SGD over every parameter (tables with sparse gradients included), or DLRMv2's Adagrad over the dense
    parameters only (the tables' Adagrad runs inside backward; a dense Adagrad would hold a table-sized
    accumulator for them)."""
    if name == "sgd":
        return torch.optim.SGD(model.parameters(), lr=lr)
    from dlrmbench.model.adagrad import ADAGRAD_EPS

    return torch.optim.Adagrad(model.dense_parameters(), lr=lr, eps=ADAGRAD_EPS)


def time_training(model: nn.Module, batches: list, warmup: int, lr: float = 0.01,
                  autocast: torch.dtype | None = None, optimizer_name: str = "sgd") -> float:
    """Samples/s of the steps after ``warmup`` (SGD; sparse table gradients or SGD inside backward).

    ``autocast`` (e.g. ``torch.bfloat16``): each step's forward runs in its own autocast context, as the
    training loop does; one context around the whole loop would cache the low-precision copy of every weight
    until it exits, so every step would compute with step 1's weights."""
    optimizer = dense_optimizer(model, optimizer_name, lr)
    model.embeddings.set_learning_rate(lr)  # strategies that apply their optimizer in backward
    loss_fn = nn.BCEWithLogitsLoss()
    model.train()
    start = None
    for step, (numerical, categorical, label) in enumerate(batches):
        if step == warmup:
            start = time.perf_counter()
        with torch.autocast("cpu", dtype=autocast or torch.bfloat16, enabled=autocast is not None):
            logits = model(numerical, categorical)
        loss = loss_fn(logits.float(), label)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    elapsed = time.perf_counter() - start
    return (len(batches) - warmup) * batches[0][0].shape[0] / elapsed


def time_peer_training(peer: object, shape: Shape, batches: list, warmup: int, lr: float = 0.01) -> float:
    """The same measurement for facebookresearch/dlrm's DLRM_Net, trained as its driver trains it
    (sigmoid output, ``BCELoss``, ``torch.optim.SGD`` over all parameters, sparse table gradients)."""
    from _peer_dlrm import peer_inputs

    model = peer.build(list(shape.table_sizes), shape.dim, list(shape.bottom), list(shape.top))  # type: ignore[attr-defined]
    inputs = [(peer_inputs(n, c), label) for n, c, label in batches]
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    loss_fn = nn.BCELoss()
    model.train()
    start = None
    for step, ((dense, offsets, indices), label) in enumerate(inputs):
        if step == warmup:
            start = time.perf_counter()
        loss = loss_fn(model(dense, offsets, indices).squeeze(1), label)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    elapsed = time.perf_counter() - start
    del model
    return (len(inputs) - warmup) * batches[0][0].shape[0] / elapsed


def contestants(shape_name: str, backends: list[str], embeddings: list[str], cells: list[Cell]) -> list[tuple[str, str]]:
    """The (backend, embedding) pairs to time at ``shape_name``; the others become cells with a reason."""
    from dlrmbench.host import current_host

    registry, host = get_registry(), current_host()
    timed = []
    for backend in backends:
        reason = None if backend in INTERPRETED else registry.get("backend", backend).availability(host, None, None)
        for embedding in embeddings:
            if embedding == "dense_table" and backend != "eager":
                continue  # the baseline is a table question, not a backend one
            if not reason and embedding != "dense_table":
                spec = registry.get("embedding", embedding)
                why = None if embedding in INTERPRETED else spec.availability(host, None, None)
                if not why and SHAPES[shape_name].hotness is not None and not spec.multi_hot:
                    why = "takes one id per feature only (the plugin declares multi_hot=False)"
                if why:
                    cells.append(Cell(shape_name, backend, embedding, None, f"unavailable: {why}"))
                    continue
            if reason:
                cells.append(Cell(shape_name, backend, embedding, None, f"unavailable: {reason}"))
                continue
            if (backend in INTERPRETED or embedding in INTERPRETED) and shape_name != "tiny":
                cells.append(Cell(shape_name, backend, embedding, None, "not timed: Triton interpreter"))
                continue
            timed.append((backend, embedding))
    return timed


def run(shapes: list[str], backends: list[str], embeddings: list[str], rounds: int = 1,
        peer: object | None = None) -> list[Cell]:
    cells: list[Cell] = []
    for shape_name in shapes:
        shape = SHAPES[shape_name]
        batches = make_batches(shape, shape.warmup + shape.steps)
        pairs = contestants(shape_name, backends, embeddings, cells)
        if peer is not None and shape_name in ("large", "multihot"):
            pairs.append(PEER)
        timed = {pair: Cell(shape_name, *pair, None) for pair in pairs}
        for round_index in range(rounds):
            for pair in pairs:
                backend, embedding = pair
                interpreted = backend in INTERPRETED or embedding in INTERPRETED
                if pair == PEER:
                    rate = time_peer_training(peer, shape, batches, shape.warmup)
                else:
                    model = build(backend, embedding, shape)
                    # The interpreter runs each program in Python: 1 warm-up + 2 timed steps are plenty.
                    rate = time_training(model, batches[:3] if interpreted else batches,
                                         1 if interpreted else shape.warmup)
                    del model
                gc.collect()
                timed[pair].rounds.append(rate)
                timed[pair].note = "interpreted" if interpreted else ""
                print(f"  round {round_index + 1}/{rounds} {shape_name:5s} {backend:10s} {embedding:22s} "
                      f"{rate:12.0f} samples/s", file=sys.stderr, flush=True)
        for cell in timed.values():
            cell.samples_per_s = statistics.median(cell.rounds)
            cell.ratio, cell.ratio_spread = _ratio(cell, timed.get(BASELINE))
            cell.vs_peer, cell.vs_peer_spread = _ratio(cell, timed.get(PEER))
        cells.extend(timed.values())
    return cells


def _ratio(cell: Cell, base: Cell | None) -> tuple[float | None, tuple[float, float] | None]:
    """Median and (min, max) over rounds of the per-round ratio ``cell / base`` (same round, same load)."""
    if base is None or not base.rounds or len(base.rounds) != len(cell.rounds):
        return None, None
    ratios = [a / b for a, b in zip(cell.rounds, base.rounds)]
    return statistics.median(ratios), (min(ratios), max(ratios))


def _fmt_ratio(value: float | None, spread: tuple[float, float] | None) -> str:
    if value is None:
        return ""
    if spread is None or spread[0] == spread[1]:
        return f"{value:.2f}x"
    return f"{value:.2f}x ({spread[0]:.2f}-{spread[1]:.2f})"


def render(cells: list[Cell], rounds: int, peer_label: str | None) -> None:
    from rich.console import Console
    from rich.table import Table

    title = (f"Training samples/s on the CPU ({torch.get_num_threads()} threads, torch {torch.__version__}), "
             f"median of {rounds} interleaved round(s); ratios: median (min-max) of per-round ratios")
    table = Table(title=title, title_justify="left")
    columns = ["shape", "backend", "embedding", "samples/s", "vs eager+multi_table"]
    if peer_label:
        columns.append(f"vs {peer_label}")
    for column in columns + ["note"]:
        table.add_column(column, justify="right" if column.startswith(("samples", "vs")) else "left",
                         overflow="fold")
    for c in cells:
        row = [c.shape, c.backend, c.embedding, "" if c.samples_per_s is None else f"{c.samples_per_s:,.0f}",
               _fmt_ratio(c.ratio, c.ratio_spread)]
        if peer_label:
            row.append(_fmt_ratio(c.vs_peer, c.vs_peer_spread))
        table.add_row(*row, c.note)
    Console(width=200).print(table)
    for shape in sorted({c.shape for c in cells}):
        dense = next((c for c in cells if c.shape == shape and c.backend == "eager" and c.embedding == "dense_table"), None)
        if dense is None or not dense.samples_per_s:
            continue
        for c in cells:
            if c.shape == shape and c.backend == "eager" and c.samples_per_s and c.embedding != "dense_table":
                print(f"{shape}: eager {c.embedding} / dense_table = {c.samples_per_s / dense.samples_per_s:.2f}x")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shapes", default="tiny,large", help="comma-separated: tiny, large, multihot")
    parser.add_argument("--backends", default="eager,compiled,cuda_fused,apex_mlp")
    parser.add_argument("--embeddings", default="multi_table,joint,joint_sparse,joint_sgd_in_backward,joint_fused,"
                                                "torchrec,torchrec_fused,dense_table")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved rounds (ratios are per-round medians)")
    parser.add_argument("--peer-dlrm", metavar="PATH",
                        help="a clone of github.com/facebookresearch/dlrm: adds its DLRM_Net at the large shape "
                             "and a ratio column to it")
    parser.add_argument("--json", help="also write the cells to this JSON file")
    args = parser.parse_args(argv)
    shapes = [s for s in args.shapes.split(",") if s]
    unknown = [s for s in shapes if s not in SHAPES]
    if unknown:
        parser.error(f"unknown shape(s) {unknown}; choose from {sorted(SHAPES)}")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    peer = None
    if args.peer_dlrm:
        from _peer_dlrm import PeerDlrm

        peer = PeerDlrm.load(args.peer_dlrm)
        print(f"peer: facebookresearch/dlrm at {peer.commit()}", file=sys.stderr)
    cells = run(shapes, args.backends.split(","), args.embeddings.split(","), args.rounds, peer)
    render(cells, args.rounds, "dlrm DLRM_Net" if peer else None)
    if args.json:
        from pathlib import Path

        from dlrmbench.results.store import atomic_write_text

        atomic_write_text(Path(args.json), json.dumps([asdict(c) for c in cells], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
