"""The CPU path against its peers, in one run: training (fp32, and bf16 where native) and inference.

    .venv/bin/python bench/cpu_path.py --peer-dlrm ../dlrm --processes 3 --rounds 2 [--kernels] [--profile DIR]

NVIDIA's shape (26 x 100k x 128, one id per feature, 13-512-256-128 / 1024-1024-512-256-1, dot).
Contestants, each built afresh per round and run in interleaved rounds (so drifting load hits all):

- ``dlrm``: facebookresearch/dlrm's ``DLRM_Net`` from the clone ``--peer-dlrm`` names (fp32);
- ``before``: eager + joint_sparse with autograd's two-``bmm`` dot backward (the path before this work);
- ``after``: eager + joint_sgd_in_backward (SGD applied to the touched rows inside backward) with the
  one-``bmm`` dot backward, both gathers (``index_select``, ``embedding_bag``);
- ``torchrec_fused``: TorchRec's FusedEmbeddingBagCollection (FBGEMM TBE, SGD fused), eager dense parts
  (where ``make torchrec`` installed it);
- ``after bf16``: ``after`` with each step's forward under bfloat16 autocast (a context per step, as the
  training loop has it), only where the CPU has native bf16 (AVX-512-BF16 or AMX).

A process's speed differs from another's running the same code on the same data (by 8-10% for the peer on a
quiet machine: memory placement, allocator state), so every contestant runs in ``--processes`` fresh
processes, each with ``--rounds`` interleaved rounds of ``--warmup`` untimed and ``--steps`` timed training
steps. Training: samples/s of the timed steps (batch 2048). Inference: samples/s of forward passes under
``torch.no_grad`` at batch 64 and 2048. Ratios are per round, to the peer of the same round; the table
shows the median of all rounds with min-max, and each process's median ratio (the between-process spread).
The peer's own spread between processes is printed as the noise floor: a ratio inside it is no difference.
``--process-setup harness`` starts every process (the peer's too) as ``dlrmbench run`` starts its worker
(allocator ``glibc-tuned``); ``plain`` (the default) as a Python script starts.

Where bf16 is native, every round also times the MLPs' own GEMMs (forward and both backward products of
every layer at batch 2048) in fp32 and in bf16: their ratio is the most bf16 autocast can gain on this CPU,
since the MLP GEMMs are most of a step. ``--gemm-only`` prints just that. ``--kernels`` runs one short
process with ``ONEDNN_VERBOSE=1`` and ``MKL_VERBOSE=1`` and prints which GEMM kernels were chosen, per
precision (fp32 matmuls go to MKL's SGEMM in torch's CPU wheels; bf16 to oneDNN where the CPU has bf16,
else to ATen's own fallback, which neither library reports). ``--profile DIR`` records ``torch.profiler``
tables of two training steps of ``before`` and ``after`` (written there and printed).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from torch import nn

from strategies import SHAPES, Shape, build, make_batches, time_training  # noqa: E402 (bench/ is on sys.path)

from dlrmbench.cpu_features import cpu_flags, native_bf16_reason  # noqa: E402

SHAPE = SHAPES["large"]
HERE = Path(__file__).resolve()


def two_bmm_dot(model: nn.Module) -> nn.Module:
    """Give ``model``'s dot interaction autograd's own backward (two ``bmm``s): the 'before' path."""
    inter = model.interaction

    def forward(bottom: torch.Tensor, embedded: torch.Tensor) -> torch.Tensor:
        vectors = torch.cat([bottom.unsqueeze(1), embedded.to(bottom.dtype)], dim=1)
        pairs = torch.bmm(vectors, vectors.transpose(1, 2)).flatten(1).index_select(1, inter.flat_index)
        return torch.cat([bottom, pairs, bottom.new_zeros(bottom.shape[0], 1)], dim=1)

    inter.forward = forward
    return model


V2_SHAPE = Shape("dlrmv2", SHAPE.table_sizes, SHAPE.dim, SHAPE.bottom, SHAPE.top, 1024, 1, 3, SHAPES["multihot"].hotness)
"""DLRMv2 at this machine's scale: MLPerf's hotness (214 ids a sample), batch 1024, 26 tables of 100k rows."""

AFTER = {"after": {}, "after fused": {"row_update": "fused"}, "after embedding_bag": {"gather": "embedding_bag"},
         "after bf16-table": {"table_dtype": "bfloat16"}}
"""joint_sgd_in_backward's options per contestant: the default (``row_update: auto``, one-hot SGD on float32:
the COO scatter), the fused row update, the embedding_bag gather, and bfloat16 tables with stochastic
rounding (fused; float32 compute)."""

V2 = {"v2 scatter": {"row_update": "scatter"}, "v2 fused": {"row_update": "fused"},
      "v2 fused bf16-table": {"table_dtype": "bfloat16"}}
"""joint_adagrad_in_backward's options per DLRMv2 contestant (``scatter``: every bag gradient expanded per id)."""


def make_model(name: str) -> nn.Module:
    if name == "before":
        return two_bmm_dot(build("eager", "joint_sparse", SHAPE))
    if name in AFTER:
        return build("eager", "joint_sgd_in_backward", SHAPE, AFTER[name])
    if name == "torchrec_fused":
        return build("eager", "torchrec_fused", SHAPE)
    if name in V2:
        return build("eager", "joint_adagrad_in_backward", V2_SHAPE, V2[name], "dcnv2", "adagrad")
    if name == "v2 torchrec_fused":
        return build("eager", "torchrec_fused", V2_SHAPE, None, "dcnv2", "adagrad")
    raise ValueError(name)


def train_rate(name: str, peer: object, batches: list, warmup: int) -> float:
    if name == "dlrm":
        from strategies import time_peer_training

        return time_peer_training(peer, SHAPE, batches, warmup)
    if name == "torchrec_dcn":
        from _peer_torchrec import time_dlrm_dcn_training

        return time_dlrm_dcn_training(V2_SHAPE, batches, warmup)
    if name.startswith("v2 "):
        return time_training(make_model(name), batches, warmup, optimizer_name="adagrad")
    autocast = name.endswith(" bf16")  # bf16 autocast; "bf16-table" is a table dtype
    model = make_model(name.removesuffix(" bf16") if autocast else name)
    return time_training(model, batches, warmup, autocast=torch.bfloat16 if autocast else None)


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
    shares: dict[str, tuple[int, dict[str, float]]] = {}
    for name in names:
        steps = 3
        if name == "torchrec_dcn":
            from _peer_torchrec import dlrm_dcn_steps

            step, _ = dlrm_dcn_steps(V2_SHAPE, batches[:3])
            step(0)  # warm
            with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
                step(1)
                step(2)
            steps = 2
        else:
            model = make_model(name)
            optimizer = "adagrad" if name.startswith("v2 ") else "sgd"
            time_training(model, batches[:2], 1, optimizer_name=optimizer)  # warm
            with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
                time_training(model, batches[:3], 1, optimizer_name=optimizer)
            del model
        averages = prof.key_averages()
        table = averages.table(sort_by="self_cpu_time_total", row_limit=18, max_name_column_width=40)
        (out / f"{name}.txt").write_text(table)
        print(f"\nprofile of {name} ({steps} training steps, batch {batches[0][0].shape[0]}; self CPU time):\n{table}")
        shares[name] = steps, by_kind({e.key: e.self_cpu_time_total for e in averages})
        gc.collect()
    print("\nself CPU time a step by kind of operator, ms (share of the step):")
    for name, (steps, kinds) in shares.items():
        total = sum(kinds.values())
        print(f"  {name:24s} total {total / steps / 1e3:,.0f}: " +
              ", ".join(f"{k} {v / steps / 1e3:,.0f} ({100 * v / total:.0f}%)" for k, v in kinds.items()))


#: Operator names by kind, matched as substrings of the profiler's keys (first match wins).
OPERATOR_KINDS = (
    ("GEMM", ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::matmul", "aten::linear")),
    ("embedding", ("fbgemm", "embedding", "index_select", "index_add", "index_put", "scatter", "gather", "sort",
                   "unique", "segment", "jagged", "_row_update", "keyed")),
    ("optimizer", ("adagrad", "addcmul", "addcdiv", "sqrt", "Optimizer")),
)


def by_kind(self_us: dict[str, float]) -> dict[str, float]:
    """Self CPU microseconds summed per kind (GEMM, embedding, optimizer, other)."""
    kinds = {kind: 0.0 for kind, _ in OPERATOR_KINDS} | {"other": 0.0}
    for key, value in self_us.items():
        low = key.lower()
        kind = next((k for k, parts in OPERATOR_KINDS if any(p.lower() in low for p in parts)), "other")
        kinds[kind] += value
    return kinds


def print_gemm_ceiling(ratios: list[float]) -> None:
    print(f"MLP GEMMs bf16 / fp32 on this CPU: {statistics.median(ratios):.2f}x "
          f"({min(ratios):.2f}-{max(ratios):.2f}, {len(ratios)} rounds): the most bf16 autocast can gain here")


def torchrec_available() -> bool:
    from dlrmbench.host import current_host
    from dlrmbench.plugins import get_registry

    return get_registry().get("embedding", "torchrec_fused").availability(current_host(), None, None) is None


def contestants(bf16: str | None, model: str = "dlrm") -> tuple[list[str], list[str]]:
    """(training, inference) contestants available here; the first is the peer every ratio divides by."""
    if model == "dlrmv2":
        if not torchrec_available():
            raise SystemExit("--model dlrmv2 compares against TorchRec's DLRM_DCN: run `make torchrec` first")
        return ["torchrec_dcn", *V2, "v2 torchrec_fused"], []
    training = ["dlrm", "before", *AFTER]
    inference = ["dlrm", "after"]
    if torchrec_available():
        training.append("torchrec_fused")
        inference.append("torchrec_fused")
    if bf16 is None:
        training.append("after bf16")
    return training, inference


def child(args: argparse.Namespace) -> dict:
    """One process: ``args.rounds`` interleaved rounds of every contestant; the rates per round."""
    from _peer_dlrm import PeerDlrm

    peer = PeerDlrm.load(args.peer_dlrm) if args.model == "dlrm" else None
    bf16 = native_bf16_reason()
    training, inference = contestants(bf16, args.model)
    if args.only:  # the peer (first) always runs: every ratio divides by it
        wanted = set(args.only.split(","))
        training = [training[0], *(n for n in training[1:] if n in wanted)]
        inference = [n for i, n in enumerate(inference) if i == 0 or n in wanted]
    batches = make_batches(SHAPE if args.model == "dlrm" else V2_SHAPE, args.warmup + args.steps)
    rates: dict[str, list[float]] = {}
    ceiling: list[float] = []
    for round_index in range(args.rounds):
        if bf16 is None and args.model == "dlrm":
            ceiling += gemm_ceiling(1)
        for name in training:
            rates.setdefault(f"train {name}", []).append(train_rate(name, peer, batches, args.warmup))
            gc.collect()
            print(f"  pid {os.getpid()} round {round_index + 1} train {name:20s} {rates[f'train {name}'][-1]:10.0f}/s",
                  file=sys.stderr, flush=True)
        for batch in (64, 2048):
            for name in inference:
                repeats = args.inference_repeats * (8 if batch == 64 else 1)
                rates.setdefault(f"infer{batch} {name}", []).append(infer_rate(name, peer, batch, repeats))
                gc.collect()
                print(f"  pid {os.getpid()} round {round_index + 1} infer{batch} {name:16s} "
                      f"{rates[f'infer{batch} {name}'][-1]:10.0f}/s", file=sys.stderr, flush=True)
    return {"rates": rates, "ceiling": ceiling, "peer": training[0],
            "peer_commit": peer.commit() if peer is not None else torchrec_versions()}


def torchrec_versions() -> str:
    from dlrmbench_plugins.embeddings._torchrec_compat import installed_fbgemm, installed_version

    fbgemm = installed_fbgemm()
    return f"torchrec {installed_version('torchrec')}, {fbgemm[0] if fbgemm else 'fbgemm'} {fbgemm[1] if fbgemm else '?'}"


def run_children(args: argparse.Namespace) -> list[dict]:
    """``args.processes`` fresh processes, one after another, each running :func:`child`."""
    out = []
    for index in range(args.processes):
        command = [sys.executable, str(HERE), "--child", "--model", args.model, "--rounds", str(args.rounds),
                   *(["--only", args.only] if args.only else []),
                   *(["--peer-dlrm", args.peer_dlrm] if args.peer_dlrm else []),
                   "--warmup", str(args.warmup), "--steps", str(args.steps),
                   "--inference-repeats", str(args.inference_repeats)]
        env = os.environ.copy()
        if args.process_setup == "harness":  # dlrmbench run's worker: its default allocator and huge pages
            from dlrmbench import allocators

            env = allocators.worker_environment(allocators.DEFAULT_ALLOCATOR, env)
        done = subprocess.run(command, stdout=subprocess.PIPE, text=True, env=env)
        if done.returncode != 0:
            raise SystemExit(f"process {index + 1} of {args.processes} failed (exit {done.returncode})")
        out.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return out


def spread(values: list[float], fmt: str = ".2f") -> str:
    mid = format(statistics.median(values), fmt)
    return mid if len(values) == 1 else f"{mid} ({format(min(values), fmt)}-{format(max(values), fmt)})"


def report(runs: list[dict], args: argparse.Namespace, bf16: str | None) -> None:
    keys = list(runs[0]["rates"])
    peer_name = runs[0]["peer"]
    print(f"{'measurement':28s} {'samples/s':>24s} {'vs ' + peer_name + ', all rounds':>28s}  "
          f"per-process median vs {peer_name}")
    for key in keys:
        kind = key.split(" ")[0]
        values = [v for run in runs for v in run["rates"][key]]
        per_process = [[v / b for v, b in zip(run["rates"][key], run["rates"][f"{kind} {peer_name}"])] for run in runs]
        ratios = [r for process in per_process for r in process]
        medians = " ".join(f"{statistics.median(p):.2f}" for p in per_process)
        print(f"{key:28s} {spread(values, ',.0f'):>24s} {spread(ratios) + 'x':>28s}  {medians}")
    for kind in sorted({k.split(' ')[0] for k in keys}):
        peer = [statistics.median(run["rates"][f"{kind} {peer_name}"]) for run in runs]
        if len(peer) > 1:
            print(f"noise: the peer's {kind} rate differs by {100 * (max(peer) - min(peer)) / statistics.median(peer):.1f}% "
                  f"between processes ({', '.join(f'{p:,.0f}' for p in peer)} samples/s)")
    if args.model == "dlrmv2":
        return
    if bf16 is not None:
        print(f"train after bf16: skipped ({bf16})")
    else:
        print_gemm_ceiling([c for run in runs for c in run["ceiling"]])


KERNEL_SCRIPT = r"""
import sys, torch
sys.path.insert(0, sys.argv[1])
from cpu_path import SHAPE, make_model
from strategies import make_batches, time_training
batches = make_batches(SHAPE, 2)
precision = sys.argv[2]
print(f"=== {precision}", flush=True)
model = make_model("after")
time_training(model, batches, 1, autocast=torch.bfloat16 if precision == "bf16" else None)
print("=== end", flush=True)
"""


def kernel_summary(log: str) -> list[str]:
    """Distinct GEMM-like calls in ``ONEDNN_VERBOSE`` / ``MKL_VERBOSE`` output, with counts."""
    counts: dict[str, int] = {}
    for line in log.splitlines():
        if line.startswith("onednn_verbose") and ",exec," in line:
            fields = line.split(",")
            at = fields.index("exec")
            kind, impl = fields[at + 2], fields[at + 3]
            src = next((f.split(":")[1] for f in fields if f.startswith("src") and ":" in f), "?")
            key = f"oneDNN {kind} {impl} (src {src})"
        elif line.startswith("MKL_VERBOSE ") and "(" in line.split()[1]:  # not the version banner
            key = f"MKL {line.split()[1].split('(')[0]}"
        else:
            continue
        counts[key] = counts.get(key, 0) + 1
    return [f"{key} x{count}" for key, count in sorted(counts.items(), key=lambda kv: -kv[1])]


def print_kernels(bf16: str | None) -> None:
    """Which kernels oneDNN and MKL chose for two training steps of ``after``, per precision."""
    env = {**os.environ, "ONEDNN_VERBOSE": "1", "MKL_VERBOSE": "1"}
    for precision in ["fp32"] + (["bf16"] if bf16 is None else []):
        done = subprocess.run([sys.executable, "-c", KERNEL_SCRIPT, str(HERE.parent), precision], env=env,
                              capture_output=True, text=True)
        if done.returncode != 0:
            print(f"kernels {precision}: the probe failed: {done.stderr[-500:]}")
            continue
        found = kernel_summary(done.stdout)
        print(f"kernels {precision} (2 training steps of 'after'): "
              f"{'; '.join(found) if found else 'no oneDNN or MKL call reported (ATen kernels)'}")
    if bf16 is not None:
        print(f"kernels bf16: not probed ({bf16})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--peer-dlrm", metavar="PATH",
                        help="a clone of facebookresearch/dlrm (required for --model dlrm unless --gemm-only)")
    parser.add_argument("--model", choices=("dlrm", "dlrmv2"), default="dlrm",
                        help="dlrm: NVIDIA's shape against DLRM_Net; dlrmv2: dcnv2 + Adagrad against TorchRec's "
                             "DLRM_DCN with FBGEMM's fused EXACT_ADAGRAD (training only)")
    parser.add_argument("--processes", type=int, default=3, help="fresh processes per contestant (at least 2)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds in each process")
    parser.add_argument("--warmup", type=int, default=5, help="untimed training steps per contestant and round")
    parser.add_argument("--steps", type=int, default=20, help="timed training steps per contestant and round")
    parser.add_argument("--inference-repeats", type=int, default=10)
    parser.add_argument("--only", metavar="NAMES", help="comma-separated contestants to run besides the peer "
                        "(e.g. 'after scatter,after,after bf16-table'; default: all)")
    parser.add_argument("--profile", metavar="DIR", help="write torch.profiler tables here (dlrm: the after "
                        "paths; dlrmv2: DLRM_DCN and ours) and print self time by kind of operator")
    parser.add_argument("--kernels", action="store_true", help="print the GEMM kernels oneDNN / MKL chose")
    parser.add_argument("--gemm-only", action="store_true", help="only the bf16/fp32 GEMM ratio of the MLP shapes")
    parser.add_argument("--process-setup", choices=("plain", "harness"), default="plain",
                        help="how every process (peer and ours alike) allocates: plain = as a Python script "
                             "(glibc's defaults); harness = as dlrmbench run's worker (glibc-tuned)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.gemm_only:
        print_gemm_ceiling(gemm_ceiling(args.rounds))
        return 0
    if not args.peer_dlrm and args.model == "dlrm":
        parser.error("--peer-dlrm PATH is required (a clone of facebookresearch/dlrm)")
    if args.rounds < 1 or args.warmup < 1 or args.steps < 5:
        parser.error("--rounds and --warmup must be at least 1, --steps at least 5")
    if args.child:
        print(json.dumps(child(args)))
        return 0
    if args.processes < 2:
        parser.error("--processes must be at least 2: one process's speed is not another's")
    bf16 = native_bf16_reason()
    flags = sorted(f for f in cpu_flags() if f.startswith(("avx512", "amx")) or f in ("avx2", "fma", "avx_vnni"))
    print(f"CPU {os.cpu_count()} cores, flags: {' '.join(flags) or 'none of avx2/avx512/amx'}; bf16: "
          f"{'native' if bf16 is None else 'skipped: ' + bf16}", flush=True)
    if args.kernels:
        print_kernels(bf16)
    started = time.monotonic()
    runs = run_children(args)
    peer_label = "facebookresearch/dlrm" if args.model == "dlrm" else "TorchRec DLRM_DCN:"
    print(f"{peer_label} {runs[0]['peer_commit']}; torch {torch.__version__}, {torch.get_num_threads()} "
          f"threads; process setup {args.process_setup}; {args.processes} processes x {args.rounds} interleaved "
          f"rounds, {args.warmup} warm-up + "
          f"{args.steps} timed steps each, {time.monotonic() - started:.0f} s")
    report(runs, args, bf16)
    if args.profile:
        names = ["after", "after fused", "after bf16-table"] if args.model == "dlrm" else ["torchrec_dcn", *V2,
                                                                                          "v2 torchrec_fused"]
        profile(names, make_batches(SHAPE if args.model == "dlrm" else V2_SHAPE, 3), Path(args.profile))
    return 0


if __name__ == "__main__":
    sys.exit(main())
