"""Compare dlrmbench's ranking HSTU with numbers recorded from the reference's ``DlrmHSTU`` (bench/hstu_parity.py
``--ranking``): the shape, the requests, the parameter-name mapping and :func:`compare`. The reference itself is
never imported here.
"""

from __future__ import annotations

import numpy as np
import torch

SEED = 2027
UIH_LENGTHS = [5, 1, 12, 3]
CANDIDATES = [3, 4, 1, 2]
SHAPE = dict(task="ranking", num_items=256, item_embedding_dim=16, num_blocks=2, num_heads=2, dqk=8, dv=8,
             input_dropout=0.0, linear_dropout=0.0)
RANKING = dict(embedding_dim=12, preprocessor_hidden_dim=16, num_users=32, num_categories=8, max_seq_len=64,
               max_num_candidates=4, context_min_history=4, time_bucket_clamp="embedding_dim",
               tasks=[{"name": "rating", "bit": 1}, {"name": "like", "bit": 2}])
TABLES = {"item_emb.weight": "item", "category_emb.weight": "category", "user_emb.weight": "user"}


SEEDED = {"position_emb": (8192, 16), "time_emb": (2049, 16)}  # the reference's fixed bucket counts x D
SPARSE_ROWS = 1000  # tables with more rows keep only the rows the step touched (the rest: zero grad, no update)


def seeded_tables() -> dict[str, torch.Tensor]:
    """The position and time tables, drawn from a fixed seed (regenerated, not stored in the fixture)."""
    g = torch.Generator().manual_seed(SEED)
    return {name: torch.empty(shape).uniform_(-0.02, 0.02, generator=g) for name, shape in SEEDED.items()}


def pack(record: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The fixture's form: seeded tables dropped, large tables' gradients kept on touched rows only, and no
    weights after the step (both sides step with torch's Adam: the bench measures them, the fixture keeps the
    gradients that decide them)."""
    out = {}
    for key, value in record.items():
        name = key.split("/", 1)[-1]
        if key.startswith("w1/") or (name in SEEDED and key.startswith("w0/")):
            continue
        if key.startswith("grad/") and value.ndim == 2 and value.shape[0] > SPARSE_ROWS:
            rows = np.flatnonzero(np.abs(value).sum(1))
            out["rows/" + name], out[key] = rows, value[rows]
        else:
            out[key] = value
    return out


def unpack(record: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The full record from the fixture's form."""
    out = dict(record)
    for name, table in seeded_tables().items():
        out["w0/" + name] = table.numpy()
    for key in [k for k in record if k.startswith("rows/")]:
        name = key[5:]
        grad = np.zeros_like(out["w0/" + name])
        grad[record[key]] = record["grad/" + name]
        out["grad/" + name] = grad
    return out


def config():
    from dlrmbench_plugins.families.hstu.config import HSTUModelConfig

    return HSTUModelConfig(**SHAPE, ranking=RANKING)


def make_inputs() -> dict[str, np.ndarray]:
    """Requests with real timestamps (hour and day features vary), action bits and two tasks' label bits."""
    g = torch.Generator().manual_seed(SEED)
    u, k, b = sum(UIH_LENGTHS), sum(CANDIDATES), len(UIH_LENGTHS)
    return dict(uih_lengths=np.array(UIH_LENGTHS), cand_lengths=np.array(CANDIDATES),
                user_ids=torch.randint(0, RANKING["num_users"], (b,), generator=g).numpy(),
                uih_ids=torch.randint(0, SHAPE["num_items"], (u,), generator=g).numpy(),
                uih_categories=torch.randint(0, RANKING["num_categories"], (u,), generator=g).numpy(),
                uih_actions=torch.randint(0, 32, (u,), generator=g).numpy(),
                uih_timestamps=torch.randint(1_700_000_000, 1_700_900_000, (u,), generator=g).numpy(),
                cand_ids=torch.randint(0, SHAPE["num_items"], (k,), generator=g).numpy(),
                cand_categories=torch.randint(0, RANKING["num_categories"], (k,), generator=g).numpy(),
                cand_actions=torch.randint(0, 4, (k,), generator=g).numpy(),
                cand_timestamps=np.repeat(np.array([1_700_950_000 + 3_600 * i for i in range(b)]), CANDIDATES))


def our_batch(inputs: dict[str, np.ndarray]):
    from dlrmbench_plugins.families.hstu.jagged import offsets_from_lengths
    from dlrmbench_plugins.families.hstu.ranking import RankingBatch

    t = {k: torch.from_numpy(np.asarray(v)) for k, v in inputs.items()}
    return RankingBatch(user_ids=t["user_ids"], uih_ids=t["uih_ids"], uih_categories=t["uih_categories"],
                        uih_actions=t["uih_actions"], uih_timestamps=t["uih_timestamps"],
                        uih_offsets=offsets_from_lengths(t["uih_lengths"]), cand_ids=t["cand_ids"],
                        cand_categories=t["cand_categories"], cand_actions=t["cand_actions"],
                        cand_timestamps=t["cand_timestamps"], cand_offsets=offsets_from_lengths(t["cand_lengths"]),
                        request_ids=torch.arange(len(UIH_LENGTHS)))


def name_map(num_blocks: int) -> dict[str, str]:
    """Reference ``DlrmHSTU`` parameter name -> dlrmbench ``HSTURanking`` parameter name."""
    t, pre = "_hstu_transducer.", "_hstu_transducer._input_preprocessor."
    m = {pre + "_batched_contextual_linear_weights": "context_weight",
         pre + "_batched_contextual_linear_bias": "context_bias",
         pre + "_action_encoder._action_embedding_table": "action_table",
         pre + "_action_encoder._target_action_embedding_table": "target_action",
         t + "_positional_encoder._position_embeddings_weight": "position_emb",
         t + "_positional_encoder._timestamp_embeddings_weight": "time_emb",
         t + "_output_postprocessor._layer_norm.weight": "postprocessor.norm.weight",
         t + "_output_postprocessor._layer_norm.bias": "postprocessor.norm.bias",
         t + "_output_postprocessor._time_feature_combiner.weight": "postprocessor.combiner.weight",
         t + "_output_postprocessor._time_feature_combiner.bias": "postprocessor.combiner.bias"}
    for ref, ours in (("_content_embedding_mlp", "content_mlp"), ("_additional_embedding_mlp", "category_mlp"),
                      ("_action_embedding_mlp", "action_mlp")):
        for k in range(4):
            for w in ("weight", "bias"):
                m[f"{pre}{ref}.{k}.{w}"] = f"{ours}.{k}.{w}"
    for k in range(4):
        for w in ("weight", "bias"):
            m[f"_item_embedding_mlp.{k}.{w}"] = f"item_mlp.{k}.{w}"
    for k in range(3):
        for w in ("weight", "bias"):
            m[f"_multitask_module._prediction_module.{k}.{w}"] = f"head.{k}.{w}"
    for i in range(num_blocks):
        ref = f"{t}_stu_module._stu_layers.{i}."
        for a, b in (("_uvqk_weight", "uvqk_weight"), ("_uvqk_beta", "uvqk_bias"),
                     ("_input_norm_weight", "input_norm_weight"), ("_input_norm_bias", "input_norm_bias"),
                     ("_output_weight", "output_weight"), ("_output_norm_weight", "output_norm_weight"),
                     ("_output_norm_bias", "output_norm_bias")):
            m[ref + a] = f"layers.{i}.{b}"
    return m


def compare(record: dict[str, np.ndarray]) -> dict[str, float]:
    """Run dlrmbench's ranking model from the recorded weights and requests; the largest |difference| of each
    quantity (eval predictions, loss, gradients, weights after one Adam step)."""
    from dlrmbench_plugins.families.hstu.ranking import HSTURanking

    record = unpack(record) if any(k.startswith("rows/") for k in record) else record
    model = HSTURanking(config())
    state = {k[3:]: torch.from_numpy(v) for k, v in record.items() if k.startswith("w0/")}
    model.load_state_dict(state, strict=True)
    batch = our_batch({k: record[k] for k in make_inputs()})
    model.eval()
    with torch.no_grad():
        preds = torch.sigmoid(model(*batch.tensors()))
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.95, 0.999), eps=1e-8)
    loss = model.loss(batch)
    loss.backward()
    grad = max(float((p.grad - torch.from_numpy(record["grad/" + n])).abs().max()) for n, p in model.named_parameters())
    opt.step()
    out = {"eval predictions": float((preds - torch.from_numpy(record["ref_preds"])).abs().max()),
           "loss": abs(loss.item() - float(record["ref_loss"])), "gradients": grad}
    if any(k.startswith("w1/") for k in record):  # the bench's full record (the fixture has none)
        out["weights after one Adam step"] = max(float((p.detach() - torch.from_numpy(record["w1/" + n])).abs().max())
                                                 for n, p in model.named_parameters())
    return out
