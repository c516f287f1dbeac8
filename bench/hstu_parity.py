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


def run_reference_ranking(checkout: Path, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The reference's DLRMv3 ``DlrmHSTU`` (streaming feature layout, PyTorch kernels, fp32) at a small shape:
    eval predictions, the training loss, every gradient and every weight after one Adam step.

    The tables are leaf tensors looked up here (``is_dense=True``: the reference's ``EmbeddingCollection`` is only
    a lookup) and fed to ``main_forward``, so their gradients and Adam steps are compared too. Where the installed
    torchrec lacks ``torchrec.modules.sorted_index_select`` (newer than torchrec 1.x here), a stand-in with the
    same forward (``index_select``) is registered: GR calls it with its sorted path off by default.
    """
    import types

    sys.path.insert(0, str(checkout))
    import fbgemm_gpu  # noqa: F401  (registers torch.ops.fbgemm's jagged ops on the CPU)
    try:
        import torchrec.modules.sorted_index_select  # noqa: F401
    except ImportError:
        stub = types.ModuleType("torchrec.modules.sorted_index_select")
        stub.maybe_sorted_index_select = lambda values, index, use_sorted=False: values.index_select(0, index)
        sys.modules["torchrec.modules.sorted_index_select"] = stub
    from generative_recommenders.common import HammerKernel
    from generative_recommenders.modules.dlrm_hstu import DlrmHSTU, DlrmHSTUConfig, SequenceEmbedding
    from generative_recommenders.modules.multitask_module import MultitaskTaskType, TaskConfig

    from dlrmbench_plugins.families.hstu.ranking_parity import RANKING, SEED as RSEED, SHAPE as RSHAPE
    from dlrmbench_plugins.families.hstu.ranking_parity import TABLES, name_map as ranking_names

    cfg = DlrmHSTUConfig(
        hstu_num_heads=RSHAPE["num_heads"], hstu_attn_linear_dim=RSHAPE["dv"], hstu_attn_qk_dim=RSHAPE["dqk"],
        hstu_attn_num_layers=RSHAPE["num_blocks"], hstu_embedding_table_dim=RANKING["embedding_dim"],
        hstu_preprocessor_hidden_dim=RANKING["preprocessor_hidden_dim"],
        hstu_transducer_embedding_dim=RSHAPE["item_embedding_dim"], hstu_input_dropout_ratio=0.0,
        hstu_linear_dropout_rate=0.0, causal_multitask_weights=0.2)
    # the streaming branch of GR dlrm_v3/configs.py, with its min-history threshold and tasks sized down
    cfg.user_embedding_feature_names = ["item_id", "user_id", "item_category_id"]
    cfg.item_embedding_feature_names = ["item_candidate_id", "item_candidate_category_id"]
    cfg.uih_post_id_feature_name, cfg.uih_action_time_feature_name = "item_id", "action_timestamp"
    cfg.candidates_querytime_feature_name, cfg.candidates_weight_feature_name = "item_query_time", "item_action_weights"
    cfg.uih_weight_feature_name, cfg.candidates_watchtime_feature_name = "item_weights", "item_rating"
    cfg.action_weights, cfg.action_embedding_init_std = [1, 2, 4, 8, 16], 5.0
    cfg.contextual_feature_to_max_length = {"user_id": 1}
    cfg.contextual_feature_to_min_uih_length = {"user_id": RANKING["context_min_history"]}
    cfg.merge_uih_candidate_feature_mapping = [
        ("item_id", "item_candidate_id"), ("item_rating", "item_candidate_rating"),
        ("action_timestamp", "item_query_time"), ("item_weights", "item_action_weights"),
        ("dummy_watch_time", "item_dummy_watchtime"), ("item_category_id", "item_candidate_category_id")]
    cfg.max_num_candidates = RANKING["max_num_candidates"]
    cfg.multitask_configs = [TaskConfig(t["name"], t["bit"], MultitaskTaskType.BINARY_CLASSIFICATION)
                             for t in RANKING["tasks"]]
    torch.manual_seed(RSEED)
    model = DlrmHSTU(cfg, {}, is_inference=False, is_dense=True, bf16_training=False)
    model.recursive_setattr("_hammer_kernel", HammerKernel.PYTORCH)
    from dlrmbench_plugins.families.hstu.ranking_parity import seeded_tables

    seeded = seeded_tables()
    with torch.no_grad():  # position and time tables from a seed, so the fixture need not store them
        model._hstu_transducer._positional_encoder._position_embeddings_weight.copy_(seeded["position_emb"])
        model._hstu_transducer._positional_encoder._timestamp_embeddings_weight.copy_(seeded["time_emb"])
    tables = {"item": torch.empty(RSHAPE["num_items"], RANKING["embedding_dim"]).uniform_(-0.1, 0.1),
              "category": torch.empty(RANKING["num_categories"], RANKING["embedding_dim"]).uniform_(-1, 1),
              "user": torch.empty(RANKING["num_users"], RANKING["embedding_dim"]).uniform_(-0.2, 0.2)}
    tables = {k: v.requires_grad_() for k, v in tables.items()}
    weights = {k: v.detach().clone() for k, v in model.named_parameters()}
    t = {k: torch.from_numpy(np.asarray(v)) for k, v in inputs.items()}
    uih_len, cand_len = t["uih_lengths"], t["cand_lengths"]
    ones = torch.ones_like(uih_len)

    def forward():
        e = torch.nn.functional.embedding
        seq = {"item_id": SequenceEmbedding(uih_len, e(t["uih_ids"], tables["item"])),
               "item_category_id": SequenceEmbedding(uih_len, e(t["uih_categories"], tables["category"])),
               "user_id": SequenceEmbedding(ones, e(t["user_ids"], tables["user"])),
               "item_candidate_id": SequenceEmbedding(cand_len, e(t["cand_ids"], tables["item"])),
               "item_candidate_category_id": SequenceEmbedding(cand_len, e(t["cand_categories"], tables["category"]))}
        zeros_u, zeros_k = torch.zeros_like(t["uih_ids"]), torch.zeros_like(t["cand_ids"])
        payload = {"item_rating": zeros_u, "item_candidate_rating": zeros_k,
                   "action_timestamp": t["uih_timestamps"], "item_query_time": t["cand_timestamps"],
                   "item_weights": t["uih_actions"], "item_action_weights": t["cand_actions"],
                   "dummy_watch_time": zeros_u, "item_dummy_watchtime": zeros_k,
                   "uih_offsets": torch.ops.fbgemm.asynchronous_complete_cumsum(uih_len),
                   "candidate_offsets": torch.ops.fbgemm.asynchronous_complete_cumsum(cand_len)}
        return model.main_forward(seq, payload, int(uih_len.max()), uih_len, int(cand_len.max()), cand_len)

    model.eval()
    with torch.no_grad():
        preds = forward()[3]
    model.train()
    params = list(model.parameters()) + list(tables.values())
    opt = torch.optim.Adam(params, lr=1e-3, betas=(0.95, 0.999), eps=1e-8)
    loss = sum(forward()[2].values())
    loss.backward()
    out: dict[str, np.ndarray] = dict(inputs)
    out["ref_preds"] = preds.T.numpy().copy()
    out["ref_loss"] = np.array(loss.item())
    mapping = ranking_names(RSHAPE["num_blocks"])
    named = dict(model.named_parameters())
    grads = {k: named[k].grad.detach().clone() for k in mapping}
    table_w0 = {k: v.detach().clone() for k, v in tables.items()}
    table_grads = {k: v.grad.detach().clone() for k, v in tables.items()}
    opt.step()
    for ref_name, ours in mapping.items():
        out["w0/" + ours], out["grad/" + ours] = weights[ref_name].numpy(), grads[ref_name].numpy()
        out["w1/" + ours] = named[ref_name].detach().numpy().copy()
    for ours, key in TABLES.items():
        out["w0/" + ours], out["grad/" + ours] = table_w0[key].numpy(), table_grads[key].numpy()
        out["w1/" + ours] = tables[key].detach().numpy().copy()
    missing = set(named) - set(mapping)
    if missing:
        raise SystemExit(f"reference parameters without a dlrmbench counterpart: {sorted(missing)}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkout", type=Path, help="a checkout of meta-recsys/generative-recommenders")
    ap.add_argument("--write-fixture", type=Path, help="keep inputs, weights and reference outputs here (.npz)")
    ap.add_argument("--ranking", action="store_true", help="the DLRMv3 ranking model (modules/dlrm_hstu.py) instead")
    args = ap.parse_args()
    if not (args.checkout / "generative_recommenders" / "research").is_dir():
        raise SystemExit(f"{args.checkout}: no generative_recommenders/research folder (not a GR checkout)")
    torch.set_num_threads(1)
    if args.ranking:
        from dlrmbench_plugins.families.hstu import ranking_parity

        record = run_reference_ranking(args.checkout, ranking_parity.make_inputs())
        if args.write_fixture:
            packed = ranking_parity.pack(record)
            np.savez_compressed(args.write_fixture, **{k.replace("/", "__"): v for k, v in packed.items()})
            print(f"wrote {args.write_fixture}")
        print(f"ranking shape: {ranking_parity.SHAPE}, {ranking_parity.RANKING}; history lengths "
              f"{ranking_parity.UIH_LENGTHS}, candidates {ranking_parity.CANDIDATES}; float32, CPU, torch "
              f"{torch.__version__}")
        print(f"reference loss {float(record['ref_loss']):.7f}")
        for name, diff in ranking_parity.compare(record).items():
            print(f"  max |dlrmbench - reference| {name:<40} {diff:.3e}")
        return
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
