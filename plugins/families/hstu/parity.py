"""Compare dlrmbench's HSTU with numbers recorded from the reference (see bench/hstu_parity.py).

The shape, the batch and the parameter-name mapping the recording used, and :func:`compare`, which runs
dlrmbench's model from recorded weights and returns the largest difference of each quantity. The reference itself
is never imported here.
"""

from __future__ import annotations

import numpy as np
import torch

# The small shape of the fixture (the layer structure of ML-1M's HSTU, sized down).
SHAPE = dict(num_items=64, item_embedding_dim=16, num_blocks=2, num_heads=2, dqk=8, dv=8,
             max_sequence_length=12, gr_output_length=2, input_dropout=0.0, linear_dropout=0.0,
             num_negatives=8)
LENGTHS = [5, 1, 12, 7]
SEED = 2026


def make_inputs(num_items: int, num_negatives: int) -> dict[str, np.ndarray]:
    """A jagged batch with distinct, increasing timestamps, targets and fixed negatives."""
    g = torch.Generator().manual_seed(SEED)
    total = sum(LENGTHS)
    ids = torch.randint(1, num_items + 1, (total,), generator=g)
    gaps = torch.randint(0, 200_000, (total + len(LENGTHS),), generator=g)
    ts_all = torch.cumsum(gaps, 0) + 978_300_000  # MovieLens-like unix seconds
    ts, target_ts, start = [], [], 0
    for i, n in enumerate(LENGTHS):
        ts.append(ts_all[start + i: start + i + n])
        target_ts.append(ts_all[start + i + n])
        start += n
    negatives = torch.randint(1, num_items + 1, (total, num_negatives), generator=g)
    negatives[0, 0] = 0  # placeholder, replaced below by a positive (exercises the -5e4 masking)
    out = dict(lengths=np.array(LENGTHS, dtype=np.int64), ids=ids.numpy(), timestamps=torch.cat(ts).numpy(),
               target_ids=torch.randint(1, num_items + 1, (len(LENGTHS),), generator=g).numpy(),
               target_timestamps=torch.stack(target_ts).numpy(), negatives=negatives.numpy())
    out["negatives"][0, 0] = out["ids"][1]  # position 0's positive is the next history item
    return out


def our_batch(inputs: dict[str, np.ndarray]):
    from dlrmbench_plugins.families.hstu.jagged import SequenceBatch, offsets_from_lengths

    t = {k: torch.from_numpy(np.asarray(v)) for k, v in inputs.items()}
    offsets = offsets_from_lengths(t["lengths"])
    return SequenceBatch(ids=t["ids"], timestamps=t["timestamps"], ratings=torch.zeros_like(t["ids"]),
                         offsets=offsets, target_ids=t["target_ids"], target_timestamps=t["target_timestamps"],
                         target_ratings=torch.zeros_like(t["target_ids"]))


def name_map(num_blocks: int) -> dict[str, str]:
    """Reference parameter name -> dlrmbench parameter name."""
    m = {"_embedding_module._item_emb.weight": "item_emb.weight",
         "_input_features_preproc._pos_emb.weight": "pos_emb.weight"}
    for i in range(num_blocks):
        ref, ours = f"_hstu._attention_layers.{i}.", f"layers.{i}."
        m.update({ref + "_uvqk": ours + "uvqk", ref + "_o.weight": ours + "o.weight", ref + "_o.bias": ours + "o.bias",
                  ref + "_rel_attn_bias._ts_w": ours + "rel_bias.ts_w",
                  ref + "_rel_attn_bias._pos_w": ours + "rel_bias.pos_w"})
    return m


def compare(record: dict[str, np.ndarray]) -> dict[str, float]:
    """Run dlrmbench's model from the recorded weights and inputs; the largest |difference| of each quantity."""
    from dlrmbench_plugins.families.hstu.config import HSTUModelConfig
    from dlrmbench_plugins.families.hstu.model import HSTURetrieval

    cfg = HSTUModelConfig(**SHAPE)
    batch = our_batch({k: record[k] for k in ("lengths", "ids", "timestamps", "target_ids", "target_timestamps")})
    negatives = torch.from_numpy(record["negatives"])
    result: dict[str, float] = {}
    for attention in ("pytorch", "jagged"):
        model = HSTURetrieval(cfg, attention=attention)
        state = {k[3:]: torch.from_numpy(v) for k, v in record.items() if k.startswith("w0/")}
        model.load_state_dict(state, strict=True)
        model.eval()
        with torch.no_grad():
            ev = model.encode(batch)
        model.train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.98), weight_decay=0.0)
        loss = model.sampled_softmax_loss(batch, negatives)
        loss.backward()
        grad = max(float((p.grad - torch.from_numpy(record["grad/" + n])).abs().max())
                   for n, p in model.named_parameters())
        opt.step()
        step = max(float((p.detach() - torch.from_numpy(record["w1/" + n])).abs().max())
                   for n, p in model.named_parameters())
        result[f"{attention}: eval outputs"] = float((ev - torch.from_numpy(record["ref_eval_outputs"])).abs().max())
        result[f"{attention}: loss"] = abs(loss.item() - float(record["ref_loss"]))
        result[f"{attention}: gradients"] = grad
        result[f"{attention}: weights after one AdamW step"] = step
    return result
