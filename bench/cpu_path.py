"""The CPU path against its peers, in one run: training (fp32, and bf16 where native) and inference.

    .venv/bin/python bench/cpu_path.py --peer-dlrm ../dlrm --rounds 3 [--profile /tmp/prof]

NVIDIA's shape (26 x 100k x 128, one id per feature, 13-512-256-128 / 1024-1024-512-256-1, dot).
Contestants, each built afresh per round and run in interleaved rounds (so drifting load hits all):

- ``dlrm``: facebookresearch/dlrm's ``DLRM_Net`` from the clone ``--peer-dlrm`` names (fp32);
- ``before``: eager + joint_sparse with autograd's two-``bmm`` dot backward (the path before this work);
- ``after``: eager + joint_sgd_in_backward (SGD applied to the touched rows inside backward) with the
  one-``bmm`` dot backward, both gathers (``index_select``, ``embedding_bag``);
- ``torchrec_fused``: TorchRec's FusedEmbeddingBagCollection (FBGEMM TBE, SGD fused), eager dense parts;
- ``after bf16``: ``after`` under bfloat16 autocast, only where the CPU has native bf16.

Where bf16 is native, every round also times the MLPs' own GEMMs (forward and both backward
products of every layer at batch 2048) in fp32 and in bf16: their ratio is the most bf16 autocast
can gain on this CPU, since the MLP GEMMs are most of a step. ``--gemm-only`` prints just that.

Training: samples/s of the steps after warm-up (batch 2048). Inference: samples/s of forward
passes under ``torch.no_grad`` at batch 64 and 2048. Ratios are medians of per-round ratios to the
peer, with their min-max spread. ``--profile DIR`` also records ``torch.profiler`` tables of two
training steps of ``before`` and ``after`` (written there and printed).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

from strategies import SHAPES, build, make_batches, time_training  # noqa: E402 (bench/ is on sys.path)

from dlrmbench.cpu_features import native_bf16_reason  # noqa: E402

SHAPE = SHAPES["large"]


def two_bmm_dot(model: nn.Module) -> nn.Module:
    """Give ``model``'s dot interaction autograd's own backward (two ``bmm``s): the 'before' path."""
    inter = model.interaction

    def forward(bottom: torch.Tensor, embedded: torch.Tensor) -> torch.Tensor:
        vectors = torch.cat([bottom.unsqueeze(1), embedded.to(bottom.dtype)], dim=1)
        pairs = torch.bmm(vectors, vectors.transpose(1, 2)).flatten(1).index_select(1, inter.flat_index)
        return torch.cat([bottom, pairs, bottom.new_zeros(bottom.shape[0], 1)], dim=1)

    inter.forward = forward
    return model


def make_model(name: str) -> nn.Module:
    if name == "before":
        return two_bmm_dot(build("eager", "joint_sparse", SHAPE))
    if name.startswith("after"):
        model = build("eager", "joint_sgd_in_backward", SHAPE)
        model.embeddings.gather = "embedding_bag" if "embedding_bag" in name else "index_select"
        return model
    if name == "torchrec_fused":
        return build("eager", "torchrec_fused", SHAPE)
    raise ValueError(name)


def train_rate(name: str, peer: object, batches: list) -> float:
    if name == "dlrm":
        from strategies import time_peer_training

        return time_peer_training(peer, SHAPE, batches, SHAPE.warmup)
    model = make_model(name.replace(" bf16", ""))
    if name.endswith("bf16"):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return time_training(model, batches, SHAPE.warmup)
    return time_training(model, batches, SHAPE.warmup)


def mlp_gemm_shapes() -> list[tuple[int, int, int]]:
    """(batch, in, out) of every Linear layer of the NVIDIA shape's bottom and top MLPs."""
    features = len(SHAPE.table_sizes)
    top_in = SHAPE.dim + (features + 1) * features // 2 + 1  # dot interaction output, padded by one (NVIDIA)
    widths = [[13, *SHAPE.bottom], [top_in, *SHAPE.top]]
    return [(SHAPE.batch, w[i], w[i + 1]) for w in widths for i in range(len(w) - 1)]


def gemm_rate(dtype: torch.dtype, repeats: int = 3) -> float:
    """GFLOP/s of the MLPs' GEMMs (Y = X W^T, dX = dY W, dW = dY^T X per layer) in ``dtype``."""
    generator = torch.Generator().manual_seed(0)
    operands = []
    for batch, width_in, width_out in mlp_gemm_shapes():
        x, w, dy = (torch.randn(shape, generator=generator).to(dtype)
                    for shape in ((batch, width_in), (width_out, width_in), (batch, width_out)))
        operands.append((x, w, dy))
    flops = sum(3 * 2 * x.shape[0] * x.shape[1] * w.shape[0] for x, w, _ in operands)

    def once() -> None:
        for x, w, dy in operands:
            torch.mm(x, w.t())
            torch.mm(dy, w)
            torch.mm(dy.t(), x)

    once()
    start = time.perf_counter()
    for _ in range(repeats):
        once()
    return repeats * flops / (time.perf_counter() - start) / 1e9


def gemm_ceiling(rounds: int) -> list[float]:
    """bf16 / fp32 GEMM rate of the MLP shapes, one ratio per interleaved round."""
    ratios = []
    for round_index in range(rounds):
        fp32, bf16 = gemm_rate(torch.float32), gemm_rate(torch.bfloat16)
        ratios.append(bf16 / fp32)
        print(f"  round {round_index + 1} MLP GEMMs fp32 {fp32:6.1f} GFLOP/s, bf16 {bf16:6.1f} GFLOP/s",
              file=sys.stderr)
    return ratios


def infer_rate(name: str, peer: object, batch: int, repeats: int) -> float:
    numerical, categorical, _ = make_batches(SHAPE, 1)[0]
    numerical, categorical = numerical[:batch], categorical[:batch]
    if name == "dlrm":
        from _peer_dlrm import peer_inputs

        model = peer.build(list(SHAPE.table_sizes), SHAPE.dim, list(SHAPE.bottom), list(SHAPE.top))  # type: ignore[attr-defined]
        inputs = peer_inputs(numerical, categorical)
    else:
        model = make_model(name)
        inputs = (numerical, categorical)
    model.eval()
    with torch.no_grad():
        model(*inputs)
        start = time.perf_counter()
        for _ in range(repeats):
            model(*inputs)
        elapsed = time.perf_counter() - start
    return repeats * batch / elapsed


def profile(names: list[str], batches: list, out: Path) -> None:
    from torch.profiler import ProfilerActivity, profile as torch_profile

    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        model = make_model(name)
        time_training(model, batches[:2], 1)  # warm
        with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
            time_training(model, batches[:3], 1)
        table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=18, max_name_column_width=40)
        (out / f"{name}.txt").write_text(table)
        print(f"\nprofile of {name} (2 training steps, batch {SHAPE.batch}; self CPU time):\n{table}")
        del model
        gc.collect()


def print_gemm_ceiling(ratios: list[float]) -> None:
    print(f"MLP GEMMs bf16 / fp32 on this CPU: {statistics.median(ratios):.2f}x "
          f"({min(ratios):.2f}-{max(ratios):.2f}, {len(ratios)} rounds): the most bf16 autocast can gain here")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--peer-dlrm", metavar="PATH", help="a clone of facebookresearch/dlrm (required unless --gemm-only)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--inference-repeats", type=int, default=10)
    parser.add_argument("--profile", metavar="DIR", help="write torch.profiler tables of before/after here")
    parser.add_argument("--gemm-only", action="store_true", help="only the bf16/fp32 GEMM ratio of the MLP shapes")
    args = parser.parse_args(argv)
    if args.gemm_only:
        print_gemm_ceiling(gemm_ceiling(args.rounds))
        return 0
    if not args.peer_dlrm:
        parser.error("--peer-dlrm PATH is required (a clone of facebookresearch/dlrm)")
    from _peer_dlrm import PeerDlrm

    peer = PeerDlrm.load(args.peer_dlrm)
    bf16 = native_bf16_reason()
    training = ["dlrm", "before", "after", "after embedding_bag", "torchrec_fused"]
    if bf16 is None:
        training.append("after bf16")
    inference = ["dlrm", "after", "torchrec_fused"]
    batches = make_batches(SHAPE, SHAPE.warmup + SHAPE.steps)
    rates: dict[str, list[float]] = {}
    ceiling: list[float] = []
    for round_index in range(args.rounds):
        if bf16 is None:
            ceiling += gemm_ceiling(1)
        for name in training:
            rates.setdefault(f"train {name}", []).append(train_rate(name, peer, batches))
            gc.collect()
            print(f"  round {round_index + 1} train {name:20s} {rates[f'train {name}'][-1]:10.0f}/s", file=sys.stderr)
        for batch in (64, 2048):
            for name in inference:
                repeats = args.inference_repeats * (8 if batch == 64 else 1)
                rates.setdefault(f"infer{batch} {name}", []).append(infer_rate(name, peer, batch, repeats))
                gc.collect()
                print(f"  round {round_index + 1} infer{batch} {name:16s} {rates[f'infer{batch} {name}'][-1]:10.0f}/s",
                      file=sys.stderr)
    print(f"facebookresearch/dlrm {peer.commit()}; torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"{args.rounds} interleaved rounds; bf16: {'native' if bf16 is None else 'skipped: ' + bf16}")
    print(f"{'measurement':32s} {'samples/s':>12s} {'vs dlrm (min-max)':>24s}")
    for key, values in rates.items():
        kind = key.split(" ")[0]
        base = rates[f"{kind} dlrm"]
        ratios = [v / b for v, b in zip(values, base)]
        print(f"{key:32s} {statistics.median(values):12,.0f} "
              f"{statistics.median(ratios):10.2f}x ({min(ratios):.2f}-{max(ratios):.2f})")
    if bf16 is not None:
        print(f"train after bf16: skipped ({bf16})")
    else:
        print_gemm_ceiling(ceiling)
    if args.profile:
        profile(["before", "after"], batches, Path(args.profile))
    return 0


if __name__ == "__main__":
    sys.exit(main())
