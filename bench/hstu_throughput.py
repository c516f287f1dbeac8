"""HSTU training throughput: dlrmbench's jagged and pytorch attention vs the reference's pure-PyTorch path.

Usage::

    .venv/bin/python bench/hstu_throughput.py PATH/TO/generative-recommenders [--rounds 3] [--steps 8]

Same shape for all (the ML-1M HSTU configuration: D 50, 2 blocks, 1 head, dqk = dv = 50, N = 211, dropout 0.2,
128 uniform negatives, AdamW), same users (synthetic histories of 20..200 items, ML-1M's range), batch 32. Each
measurement is one fresh process (the unit of replication): it builds its model, runs 2 warm-up steps, then times
``--steps`` training steps (forward, sampled-softmax loss, backward, AdamW step); batches are built before the
clock starts, each in its implementation's own layout (the reference: padded (B, N) ids and timestamps, as its
data loader yields them; dlrmbench: jagged values + offsets). Processes run one at a time, the implementations in
a shuffled order every round, with one torch thread each. Prints users/s per process, the median and range per
implementation, and the per-round ratio dlrmbench / reference (median and range).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

IMPLS = ("reference", "dlrmbench-jagged", "dlrmbench-pytorch")
SHAPE = dict(num_items=3952, item_embedding_dim=50, num_blocks=2, num_heads=1, dqk=50, dv=50,
             max_sequence_length=200, gr_output_length=10, input_dropout=0.2, linear_dropout=0.2, num_negatives=128)
BATCH, WARMUP = 32, 2


def _data():
    from dlrmbench_plugins.families.hstu.synthetic import SyntheticSequencesConfig, generate

    return generate(SyntheticSequencesConfig(num_users=512, num_items=3952, num_clusters=52, min_length=22,
                                             max_length=202, seed=7))


def _ours(attention: str, steps: int) -> float:
    from dlrmbench_plugins.families.hstu.config import HSTUModelConfig
    from dlrmbench_plugins.families.hstu.model import HSTURetrieval, sample_negatives

    data = _data()
    cfg = HSTUModelConfig(**SHAPE, attention=attention)
    torch.manual_seed(0)
    model = HSTURetrieval(cfg).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.98), weight_decay=0.0)
    batches = list(data.batches("train", BATCH, cfg.max_sequence_length, shuffle=True))[:WARMUP + steps]
    for i, b in enumerate(batches):
        if i == WARMUP:
            start = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        model.sampled_softmax_loss(b, sample_negatives(b.num_items, cfg.num_negatives, data.all_item_ids)).backward()
        opt.step()
    return steps * BATCH / (time.perf_counter() - start)


def _reference(checkout: Path, steps: int) -> float:
    sys.path.insert(0, str(checkout))
    import fbgemm_gpu  # noqa: F401
    from generative_recommenders.research.modeling.sequential.autoregressive_losses import LocalNegativesSampler
    from generative_recommenders.research.modeling.sequential.embedding_modules import LocalEmbeddingModule
    from generative_recommenders.research.modeling.sequential.hstu import HSTU
    from generative_recommenders.research.modeling.sequential.input_features_preprocessors import (
        LearnablePositionalEmbeddingInputFeaturesPreprocessor)
    from generative_recommenders.research.modeling.sequential.losses.sampled_softmax import SampledSoftmaxLoss
    from generative_recommenders.research.modeling.sequential.output_postprocessors import (
        L2NormEmbeddingPostprocessor)
    from generative_recommenders.research.rails.similarities.dot_product_similarity_fn import DotProductSimilarity

    s = SHAPE
    data = _data()
    n_out = s["gr_output_length"] + 1
    padded = s["max_sequence_length"] + n_out
    torch.manual_seed(0)
    emb = LocalEmbeddingModule(s["num_items"], s["item_embedding_dim"])
    model = HSTU(max_sequence_len=s["max_sequence_length"], max_output_len=n_out,
                 embedding_dim=s["item_embedding_dim"], num_blocks=s["num_blocks"], num_heads=s["num_heads"],
                 linear_dim=s["dv"], attention_dim=s["dqk"], normalization="rel_bias", linear_config="uvqk",
                 linear_activation="silu", linear_dropout_rate=s["linear_dropout"], attn_dropout_rate=0.0,
                 embedding_module=emb, similarity_module=DotProductSimilarity(),
                 input_features_preproc_module=LearnablePositionalEmbeddingInputFeaturesPreprocessor(
                     padded, s["item_embedding_dim"], s["input_dropout"]),
                 output_postproc_module=L2NormEmbeddingPostprocessor(s["item_embedding_dim"], 1e-6),
                 verbose=False).train()
    sampler = LocalNegativesSampler(num_items=s["num_items"], item_emb=emb._item_emb,
                                    all_item_ids=data.all_item_ids.tolist(), l2_norm=True, l2_norm_eps=1e-6)
    loss_fn = SampledSoftmaxLoss(num_to_sample=s["num_negatives"], softmax_temperature=0.05, model=model)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.98), weight_decay=0.0)
    rows = []
    for b in list(data.batches("train", BATCH, s["max_sequence_length"], shuffle=True))[:WARMUP + steps]:
        lengths = b.lengths
        ids = torch.zeros(b.batch_size, padded, dtype=torch.int64)
        ts = torch.zeros(b.batch_size, padded, dtype=torch.int64)
        for i in range(b.batch_size):
            lo, hi = int(b.offsets[i]), int(b.offsets[i + 1])
            ids[i, :hi - lo], ts[i, :hi - lo] = b.ids[lo:hi], b.timestamps[lo:hi]
        ts.scatter_(1, lengths.view(-1, 1), b.target_timestamps.view(-1, 1))
        ids.scatter_(1, lengths.view(-1, 1), b.target_ids.view(-1, 1))
        rows.append((lengths, ids, ts))
    for i, (lengths, ids, ts) in enumerate(rows):
        if i == WARMUP:
            start = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        emb_in = model.get_item_embeddings(ids)
        out = model(past_lengths=lengths, past_ids=ids, past_embeddings=emb_in, past_payloads={"timestamps": ts})
        loss, _ = loss_fn(lengths=lengths, output_embeddings=out[:, :-1, :], supervision_ids=ids[:, 1:],
                          supervision_embeddings=emb_in[:, 1:, :], supervision_weights=(ids[:, 1:] != 0).float(),
                          negatives_sampler=sampler, timestamps=ts)
        loss.backward()
        opt.step()
    return steps * BATCH / (time.perf_counter() - start)


def worker(impl: str, checkout: Path, steps: int) -> None:
    torch.set_num_threads(1)
    if impl == "reference":
        rate = _reference(checkout, steps)
    else:
        rate = _ours(impl.split("-", 1)[1], steps)
    print(json.dumps({"impl": impl, "users_per_s": rate}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkout", type=Path, help="a checkout of meta-recsys/generative-recommenders")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--worker", choices=IMPLS, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.checkout, args.steps)
        return
    rates: dict[str, list[float]] = {i: [] for i in IMPLS}
    ratios: dict[str, list[float]] = {i: [] for i in IMPLS[1:]}
    rng = random.Random(0)
    for r in range(args.rounds):
        order = list(IMPLS)
        rng.shuffle(order)
        got = {}
        for impl in order:
            out = subprocess.run([sys.executable, __file__, str(args.checkout), "--steps", str(args.steps),
                                  "--worker", impl], capture_output=True, text=True, check=True)
            got[impl] = json.loads(out.stdout.strip().splitlines()[-1])["users_per_s"]
            rates[impl].append(got[impl])
            print(f"round {r + 1}: {impl:<18} {got[impl]:8.2f} users/s", flush=True)
        for impl in ratios:
            ratios[impl].append(got[impl] / got["reference"])
    print(f"\nshape {SHAPE}, batch {BATCH}, {args.steps} timed steps, 1 thread, {args.rounds} rounds; "
          f"torch {torch.__version__}")
    for impl, v in rates.items():
        print(f"  {impl:<18} median {statistics.median(v):8.2f} users/s  (range {min(v):.2f} .. {max(v):.2f})")
    for impl, v in ratios.items():
        print(f"  {impl} / reference: median {statistics.median(v):.3f}  (range {min(v):.3f} .. {max(v):.3f})")


if __name__ == "__main__":
    main()
