"""On an NVIDIA GPU: compile and check the Triton kernels, verify every combination, time them.

Called by ``bench/gpu_check.sh`` (which caps the run at 8 minutes). ``--dry-run`` prints the plan
without touching a GPU (what the CPU tests check). The results file names the card.

Timing: each embedding strategy's FL15 tables (32,709,138 rows x 128 float32 = 16.7 GB) are built
once on the GPU and shared by every backend x precision timed with them; the dense parts are
rebuilt per combination. Weights are random (correctness is checked separately, step 1 and 2), so
building needs no 16 GB host copy. Batches are random ids inside each table, pre-made on the GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# Facts sheet 4.1: Criteo Terabyte, frequency threshold 15 (cat_0 .. cat_25).
FL15_TABLE_SIZES: tuple[int, ...] = (
    7912889, 33823, 17139, 7339, 20046, 4, 7105, 1382, 63, 5554114, 582469, 245828, 11,
    2209, 10667, 104, 4, 968, 15, 8165896, 2675940, 7156453, 302516, 12022, 97, 35,
)
BOTTOM_MLP = (512, 256, 128)
TOP_MLP = (1024, 1024, 512, 256, 1)
EMBEDDING_DIM = 128
BACKENDS = ("eager", "compiled", "cuda_fused", "apex_mlp")
EMBEDDINGS = ("multi_table", "joint", "joint_sparse", "joint_fused")
PRECISIONS = ("tf32", "amp")


@dataclass
class Timing:
    backend: str
    embedding: str
    precision: str
    samples_per_s: float | None = None
    step_ms: float | None = None
    note: str = ""


@dataclass
class Results:
    card: str = ""
    torch_version: str = ""
    triton_version: str = ""
    batch_size: int = 32768
    kernel_checks: list[dict[str, Any]] = field(default_factory=list)
    verify: list[dict[str, Any]] = field(default_factory=list)
    timings: list[Timing] = field(default_factory=list)
    elapsed_s: float = 0.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Check and time the Triton kernels and every combination on a GPU.")
    parser.add_argument("--out", type=Path, help="results file (default bench/results/gpu_check-<card>.json)")
    parser.add_argument("--batch-size", type=int, default=32768)
    parser.add_argument("--precisions", default=",".join(PRECISIONS), help="comma-separated: tf32, amp")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--embeddings", default=",".join(EMBEDDINGS))
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps per combination")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per combination")
    parser.add_argument("--budget-s", type=float, default=450.0,
                        help="stop starting new timings after this many seconds (the shell script kills at 480)")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and exit (no GPU needed)")
    args = parser.parse_args(argv)
    args.precisions = [p for p in args.precisions.split(",") if p]
    args.backends = [b for b in args.backends.split(",") if b]
    args.embeddings = [e for e in args.embeddings.split(",") if e]
    bad = [p for p in args.precisions if p not in PRECISIONS]
    if bad:
        parser.error(f"unknown precision(s) {bad}; choose from {list(PRECISIONS)}")
    if args.batch_size < 1 or args.steps < 1 or args.warmup < 0:
        parser.error("--batch-size and --steps must be positive, --warmup not negative")
    return args


def plan(args: argparse.Namespace) -> list[tuple[str, str, str]]:
    """(embedding, backend, precision) in run order: one embedding's tables at a time."""
    return [(e, b, p) for e in args.embeddings for b in args.backends for p in args.precisions]


def table_bytes(sizes: tuple[int, ...] = FL15_TABLE_SIZES, dim: int = EMBEDDING_DIM) -> int:
    return sum(sizes) * dim * 4


# --- GPU parts (torch imported inside) ----------------------------------------------------------


def check_kernels() -> list[dict[str, Any]]:
    """Compiled Triton kernels against the eager path on the GPU (IEEE fp32 and fp16)."""
    import torch

    from dlrmbench.model.interactions import DotInteraction
    from dlrmbench_plugins.kernels.dot_interaction import triton_dot_interaction
    from dlrmbench_plugins.kernels.gather import fused_gather

    torch.backends.cuda.matmul.allow_tf32 = False
    out = []
    gen = torch.Generator("cuda").manual_seed(0)
    for dtype, tol in ((torch.float32, 1e-5), (torch.float16, 1e-2)):
        for batch, features, dim in ((4096, 26, 128), (1000, 5, 24), (64, 40, 200)):
            bottom = torch.randn(batch, dim, device="cuda", generator=gen).to(dtype).requires_grad_()
            emb = torch.randn(batch, features, dim, device="cuda", generator=gen).requires_grad_()
            y = triton_dot_interaction(bottom, emb)
            grad = torch.randn(y.shape, device="cuda", generator=gen).to(dtype)
            y.backward(grad)
            b2, e2 = bottom.detach().float().requires_grad_(), emb.detach().clone().requires_grad_()
            y2 = DotInteraction(features + 1, dim).cuda()(b2, e2)
            y2.backward(grad.float())
            rel = {name: float((a.float() - r).abs().max() / r.abs().max())
                   for name, a, r in (("output", y, y2), ("d_bottom", bottom.grad, b2.grad), ("d_embedded", emb.grad, e2.grad))}
            out.append({"kernel": "dot_interaction", "dtype": str(dtype), "shape": [batch, features, dim],
                        "relative_difference": rel, "pass": max(rel.values()) <= tol})
        sizes = torch.tensor([1000, 7, 50000, 3], device="cuda")
        offsets = torch.cat([sizes.new_zeros(1), sizes.cumsum(0)[:-1]])
        weight = torch.randn(int(sizes.sum()), 72, device="cuda", generator=gen)
        ids = (torch.rand(8192, 4, device="cuda", generator=gen) * sizes).long()
        same = bool(torch.equal(fused_gather(weight, ids, offsets, dtype), weight[ids + offsets].to(dtype)))
        out.append({"kernel": "fused_gather", "dtype": str(dtype), "shape": [8192, 4, 72], "pass": same})
    return out


def run_verify() -> list[dict[str, Any]]:
    from dlrmbench_plugins.families.dlrm_verify import VerifySettings, verify

    rows = []
    for precision in ("fp32", "amp"):
        report = verify(VerifySettings(device="cuda", precision=precision, steps=3))  # type: ignore[arg-type]
        for c in report.checks:
            rows.append({"precision": precision, "backend": c.combination.backend, "embedding": c.combination.embedding,
                         "interaction": c.combination.interaction, "status": c.status, "outputs": c.outputs,
                         "losses": c.losses, "parameters": c.parameters, "reason": c.reason})
    return rows


def _case() -> Any:
    from dlrmbench.config.schema import Case

    return Case(name="gpu-check", device="cuda", model={"bottom_mlp": list(BOTTOM_MLP), "top_mlp": list(TOP_MLP),
                                                         "embedding_dim": EMBEDDING_DIM})


def _embedding(name: str, seed: int) -> Any:
    import torch

    from dlrmbench.plugins import get_registry

    from dlrmbench.plugin_api import BuildContext

    spec = get_registry().get("embedding", name)
    with torch.device("cuda"):
        emb = spec.build(BuildContext(_case(), spec.options(), tuple(FL15_TABLE_SIZES), "cuda:0"))
    emb.reset_parameters(generator=torch.Generator("cuda").manual_seed(seed))
    return emb


def _model(backend_name: str, embeddings: Any) -> Any:
    from dlrmbench.model.dlrm import Dlrm
    from torch import nn

    from dlrmbench.plugins import get_registry

    from dlrmbench.model.interactions import DotInteraction
    from dlrmbench.plugin_api import BuildContext

    spec = get_registry().get("backend", backend_name)
    ctx = BuildContext(_case(), spec.options(), tuple(FL15_TABLE_SIZES), "cuda:0")
    backend = spec.build(ctx)
    inter = backend.interaction(ctx) or DotInteraction(1 + len(FL15_TABLE_SIZES), EMBEDDING_DIM)
    model = Dlrm(backend.mlp(13, list(BOTTOM_MLP)), embeddings, inter, backend.mlp(inter.out_features, list(TOP_MLP[:-1])),
                 nn.Linear(TOP_MLP[-2], 1))
    return backend.finalize(model.cuda())


def time_combination(model: Any, precision: str, batches: list, warmup: int) -> float:
    """Seconds per timed step, CUDA-synchronised at both ends."""
    import torch

    torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
    torch.backends.cudnn.allow_tf32 = precision == "tf32"
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01 / (1024 if precision == "amp" else 1))
    loss_fn = torch.nn.BCEWithLogitsLoss()
    start = None
    for step, (numerical, categorical, label) in enumerate(batches):
        if step == warmup:
            torch.cuda.synchronize()
            start = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.float16, enabled=precision == "amp"):
            logits = model(numerical, categorical)
        loss = loss_fn(logits.float(), label)
        optimizer.zero_grad(set_to_none=True)
        (loss * 1024 if precision == "amp" else loss).backward()
        optimizer.step()
    torch.cuda.synchronize()
    return (time.perf_counter() - start) / (len(batches) - warmup)


def time_all(args: argparse.Namespace, results: Results, started: float) -> None:
    import torch

    from dlrmbench.host import current_host
    from dlrmbench.plugins import get_registry

    registry, host = get_registry(), current_host()
    gen = torch.Generator("cuda").manual_seed(1)
    sizes = torch.tensor(FL15_TABLE_SIZES, device="cuda")
    batches = []
    for _ in range(args.warmup + args.steps):
        batches.append((torch.randn(args.batch_size, 13, device="cuda", generator=gen),
                        (torch.rand(args.batch_size, len(FL15_TABLE_SIZES), device="cuda", generator=gen,
                                    dtype=torch.float64) * sizes).long(),
                        torch.randint(0, 2, (args.batch_size,), device="cuda", generator=gen).float()))
    for emb_name in args.embeddings:
        emb_reason = registry.get("embedding", emb_name).availability(host, None, None)
        embeddings = None
        for backend_name in args.backends:
            reason = emb_reason or registry.get("backend", backend_name).availability(host, None, None)
            for precision in args.precisions:
                cell = Timing(backend_name, emb_name, precision)
                results.timings.append(cell)
                if reason:
                    cell.note = f"unavailable: {reason}"
                    continue
                if time.perf_counter() - started > args.budget_s:
                    cell.note = f"skipped: over the {args.budget_s:g} s budget"
                    continue
                try:
                    if embeddings is None:
                        embeddings = _embedding(emb_name, seed=2)
                    model = _model(backend_name, embeddings)
                    seconds = time_combination(model, precision, batches, args.warmup)
                    cell.step_ms, cell.samples_per_s = seconds * 1e3, args.batch_size / seconds
                except Exception as exc:  # record and go on: one broken combination must not hide the rest
                    cell.note = f"error: {type(exc).__name__}: {str(exc)[:300]}"
                print(f"{emb_name:12s} {backend_name:10s} {precision:4s} "
                      f"{cell.samples_per_s or 0:14,.0f} samples/s {cell.note}", flush=True)
        del embeddings
        torch.cuda.empty_cache()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.dry_run:
        print(f"FL15 tables: {len(FL15_TABLE_SIZES)} features, {sum(FL15_TABLE_SIZES):,} rows, "
              f"{table_bytes() / 1e9:.2f} GB float32 at dim {EMBEDDING_DIM}; batch {args.batch_size}")
        for emb, backend, precision in plan(args):
            print(f"{emb} {backend} {precision}")
        return 0
    import torch
    import triton

    if not torch.cuda.is_available():
        print("gpu_check: torch sees no CUDA GPU", file=sys.stderr)
        return 2
    if os.environ.get("TRITON_INTERPRET"):
        print("gpu_check: unset TRITON_INTERPRET: the kernels must compile for the GPU", file=sys.stderr)
        return 2
    started = time.perf_counter()
    results = Results(card=torch.cuda.get_device_name(), torch_version=torch.__version__,
                      triton_version=triton.__version__, batch_size=args.batch_size)
    out = args.out or Path("bench/results") / f"gpu_check-{results.card.replace(' ', '_')}.json"
    try:
        results.kernel_checks = check_kernels()
        print("kernel checks:", "pass" if all(c["pass"] for c in results.kernel_checks) else "FAIL", flush=True)
        results.verify = run_verify()
        print("verify:", "pass" if all(r["status"] in ("pass", "unavailable") for r in results.verify) else "FAIL", flush=True)
        time_all(args, results, started)
    finally:  # a partial run (interrupted by the 8-minute cap) still leaves its results
        results.elapsed_s = time.perf_counter() - started
        from dlrmbench.results.store import atomic_write_text

        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out, json.dumps(asdict(results), indent=2))
        print(f"results: {out}")
    failed = [c for c in results.kernel_checks if not c["pass"]] + [r for r in results.verify if r["status"] in ("fail", "error")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
