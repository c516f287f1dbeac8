"""HSTU parity: the reference's research HSTU and dlrmbench's, same weights, same batch, same negatives.

Usage::

    .venv/bin/python bench/hstu_parity.py PATH/TO/generative-recommenders [--write-fixture FILE]

PATH is a checkout of meta-recsys/generative-recommenders (measured @ db1bf8f2). The reference runs on the CPU
with ``fbgemm_gpu`` (``make torchrec`` installs fbgemm-gpu-cpu; its jagged ops) imported and ``gin-config``
installed (``pip install gin-config``; no torch dependency, not in any extra). This script builds
the reference ``HSTU`` at a small shape, copies its weights into dlrmbench's ``HSTURetrieval``, and compares in
float32:

1. every history position's encoder output (eval mode);
2. the sampled-softmax loss and every gradient of one training step (the reference's ``SampledSoftmaxLoss`` over
   the same negative ids; dropout 0 so both are deterministic);
3. every weight after one AdamW step (lr 1e-3, betas (0.9, 0.98), weight decay 0: the gin files' settings).

``--write-fixture`` keeps the inputs, the weights and the reference's outputs as numbers (a numpy .npz), so
tests/families/test_hstu_parity.py checks dlrmbench against them without the reference installed.
Nothing of the reference is copied into dlrmbench: it is imported from PATH at run time.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from dlrmbench_plugins.families.hstu.parity import LENGTHS, SEED, SHAPE, compare, make_inputs, name_map

def run_reference(checkout: Path, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Build the reference HSTU, run the eval forward and one training step; return every number."""
    sys.path.insert(0, str(checkout))
    import fbgemm_gpu  # noqa: F401  (registers torch.ops.fbgemm's jagged ops on the CPU)
    from generative_recommenders.research.modeling.sequential.autoregressive_losses import NegativesSampler
    from generative_recommenders.research.modeling.sequential.embedding_modules import LocalEmbeddingModule
    from generative_recommenders.research.modeling.sequential.hstu import HSTU
    from generative_recommenders.research.modeling.sequential.input_features_preprocessors import (
        LearnablePositionalEmbeddingInputFeaturesPreprocessor)
    from generative_recommenders.research.modeling.sequential.losses.sampled_softmax import SampledSoftmaxLoss
    from generative_recommenders.research.modeling.sequential.output_postprocessors import (
        L2NormEmbeddingPostprocessor)
    from generative_recommenders.research.rails.similarities.dot_product_similarity_fn import DotProductSimilarity

    s = SHAPE
    torch.manual_seed(SEED)
    n_out = s["gr_output_length"] + 1
    padded = s["max_sequence_length"] + n_out
    model = HSTU(max_sequence_len=s["max_sequence_length"], max_output_len=n_out,
                 embedding_dim=s["item_embedding_dim"], num_blocks=s["num_blocks"], num_heads=s["num_heads"],
                 linear_dim=s["dv"], attention_dim=s["dqk"], normalization="rel_bias", linear_config="uvqk",
                 linear_activation="silu", linear_dropout_rate=0.0, attn_dropout_rate=0.0,
                 embedding_module=LocalEmbeddingModule(s["num_items"], s["item_embedding_dim"]),
                 similarity_module=DotProductSimilarity(),
                 input_features_preproc_module=LearnablePositionalEmbeddingInputFeaturesPreprocessor(
                     padded, s["item_embedding_dim"], 0.0),
                 output_postproc_module=L2NormEmbeddingPostprocessor(s["item_embedding_dim"], 1e-6),
                 verbose=False)
    weights = {k: v.detach().clone() for k, v in model.named_parameters()}

    b = len(LENGTHS)
    lengths = torch.tensor(LENGTHS)
    past_ids = torch.zeros(b, padded, dtype=torch.int64)
    past_ts = torch.zeros(b, padded, dtype=torch.int64)
    ids, ts = torch.from_numpy(inputs["ids"]), torch.from_numpy(inputs["timestamps"])
    start = 0
    for i, n in enumerate(LENGTHS):
        past_ids[i, :n], past_ts[i, :n] = ids[start:start + n], ts[start:start + n]
        start += n
    target_ids = torch.from_numpy(inputs["target_ids"])
    past_ts.scatter_(1, lengths.view(-1, 1), torch.from_numpy(inputs["target_timestamps"]).view(-1, 1))
    payloads = {"timestamps": past_ts}

    def jagged(x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x[i, :n] for i, n in enumerate(LENGTHS)])

    model.eval()
    with torch.no_grad():
        eval_out = model(past_lengths=lengths, past_ids=past_ids,
                         past_embeddings=model.get_item_embeddings(past_ids), past_payloads=payloads)

    class FixedNegatives(NegativesSampler):
        def __init__(self) -> None:
            super().__init__(l2_norm=True, l2_norm_eps=1e-6)

        def debug_str(self) -> str:
            return "fixed"

        def process_batch(self, ids, presences, embeddings) -> None:
            pass

        def forward(self, positive_ids, num_to_sample):
            neg = torch.from_numpy(inputs["negatives"])
            return neg, self.normalize_embeddings(model.get_item_embeddings(neg))

    model.train()
    train_ids = past_ids.clone().scatter_(1, lengths.view(-1, 1), target_ids.view(-1, 1))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.98), weight_decay=0.0)
    opt.zero_grad()
    emb = model.get_item_embeddings(train_ids)
    seq = model(past_lengths=lengths, past_ids=train_ids, past_embeddings=emb, past_payloads=payloads)
    loss_fn = SampledSoftmaxLoss(num_to_sample=s["num_negatives"], softmax_temperature=0.05, model=model)
    loss, _ = loss_fn(lengths=lengths, output_embeddings=seq[:, :-1, :], supervision_ids=train_ids[:, 1:],
                      supervision_embeddings=emb[:, 1:, :], supervision_weights=(train_ids[:, 1:] != 0).float(),
                      negatives_sampler=FixedNegatives(), **payloads)
    loss.backward()
    grads = {k: v.grad.detach().clone() for k, v in model.named_parameters()}
    opt.step()
    mapping = name_map(s["num_blocks"])
    out: dict[str, np.ndarray] = dict(inputs)
    out["ref_eval_outputs"] = jagged(eval_out).numpy()
    out["ref_loss"] = np.array(loss.item())
    for ref_name, ours in mapping.items():
        p = dict(model.named_parameters())[ref_name]
        out["w0/" + ours] = weights[ref_name].numpy()
        out["grad/" + ours] = grads[ref_name].numpy()
        out["w1/" + ours] = p.detach().numpy().copy()
    missing = set(dict(model.named_parameters())) - set(mapping)
    if missing:
        raise SystemExit(f"reference parameters without a dlrmbench counterpart: {sorted(missing)}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkout", type=Path, help="a checkout of meta-recsys/generative-recommenders")
    ap.add_argument("--write-fixture", type=Path, help="keep inputs, weights and reference outputs here (.npz)")
    args = ap.parse_args()
    if not (args.checkout / "generative_recommenders" / "research").is_dir():
        raise SystemExit(f"{args.checkout}: no generative_recommenders/research folder (not a GR checkout)")
    torch.set_num_threads(1)
    record = run_reference(args.checkout, make_inputs(SHAPE["num_items"], SHAPE["num_negatives"]))
    if args.write_fixture:
        np.savez_compressed(args.write_fixture, **{k.replace("/", "__"): v for k, v in record.items()})
        print(f"wrote {args.write_fixture}")
    print(f"shape: {SHAPE}, lengths {LENGTHS}; float32, CPU, torch {torch.__version__}")
    print(f"reference loss {float(record['ref_loss']):.7f}")
    for name, diff in compare(record).items():
        print(f"  max |dlrmbench - reference| {name:<40} {diff:.3e}")


if __name__ == "__main__":
    main()
