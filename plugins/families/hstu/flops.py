"""FLOPs of the research HSTU and of the DLRMv3 ranking HSTU (``ranking_*``; formula in docs/hstu.md, section
"Ranking model"): matrix products only, 2 FLOPs per multiply-accumulate.

Per STU layer and user history of length L (D model width, H heads, dqk, dv; the shape of the TRN README's
``_hstu_layer_flops``, mlcommons/training PR 889 ``recommendation_v4``):

- UVQK projection: 2 L D H (2 dqk + 2 dv);
- attention: scores and A V over the causal pairs, 2 P H (dqk + dv) with P = L (L + 1) / 2
  (``causal=False`` counts all L^2 pairs: what a materialising kernel computes);
- output projection: 2 L (3 if concat_ua else 1) H dv D.

Sampled-softmax loss: 2 L (1 + R) D (one positive and R negatives per position). Training = 3 x forward
(each product has two of the same size in backward: gradient of the input and of the weight). The jagged
backend's recomputation of the scores in backward is implementation cost, not counted.
Ranking one user against X items (evaluation): the encoder on L items plus 2 X D.
"""

from __future__ import annotations

from typing import Iterable

from dlrmbench_plugins.families.hstu.config import HSTUModelConfig


def encoder_flops(cfg: HSTUModelConfig, length: int, causal: bool = True) -> float:
    """Forward FLOPs of the STU stack on one history of ``length`` items."""
    d, h = cfg.item_embedding_dim, cfg.num_heads
    pairs = length * (length + 1) / 2 if causal else length * length
    per_layer = (2 * length * d * h * (2 * cfg.dqk + 2 * cfg.dv)
                 + 2 * pairs * h * (cfg.dqk + cfg.dv)
                 + 2 * length * (3 if cfg.concat_ua else 1) * h * cfg.dv * d)
    return cfg.num_blocks * per_layer


def loss_flops(cfg: HSTUModelConfig, length: int) -> float:
    """Forward FLOPs of the sampled-softmax logits for one history."""
    return 2 * length * (1 + cfg.num_negatives) * cfg.item_embedding_dim


def training_flops(cfg: HSTUModelConfig, lengths: Iterable[int], causal: bool = True) -> float:
    """Forward + backward FLOPs of one training step over histories of these lengths."""
    return 3.0 * sum(encoder_flops(cfg, n, causal) + loss_flops(cfg, n) for n in lengths)


def training_flops_per_sample(cfg: HSTUModelConfig, length: int | None = None) -> float:
    """Training FLOPs of one user at ``length`` (default: a full history, max_sequence_length)."""
    return training_flops(cfg, [length or cfg.max_sequence_length])


def ranking_flops(cfg: HSTUModelConfig, length: int, num_candidates: int) -> float:
    """Forward FLOPs of scoring one user (history ``length``) against ``num_candidates`` items."""
    return encoder_flops(cfg, length) + 2 * num_candidates * cfg.item_embedding_dim


def ranking_forward_flops(cfg: HSTUModelConfig, history: Iterable[int], candidates: Iterable[int],
                          padded: bool = True) -> float:
    """Forward FLOPs of the DLRMv3 ranking model (ranking.py) on requests with these history and candidate counts.

    ``padded=True`` counts what the PyTorch path computes: every request's scores padded to the batch's
    n = max history + max candidates + contextual tokens, all n^2 pairs (masked ones included);
    ``padded=False`` counts only the pairs the target-aware mask keeps (the useful work).
    """
    r = cfg.ranking
    d, h, dqk, dv, e = cfg.item_embedding_dim, cfg.num_heads, cfg.dqk, cfg.dv, r.embedding_dim
    hist, cand = list(history), list(candidates)
    c, b = r.contextual_len, len(hist)
    tokens, k = sum(hist) + sum(cand), sum(cand)
    p = r.preprocessor_hidden_dim
    actions = len(r.action_weights) * r.action_embedding_dim
    preprocessor = 2 * tokens * (e * p + p * d) * 2 + 2 * tokens * (actions * p + p * d) + 2 * c * b * e * d
    stu_tokens = tokens + c * b
    if padded:
        n = max(hist) + max(cand) + c
        pairs = b * n * n
    elif r.target_aware:  # context + history causal; each candidate sees that prefix and itself
        pairs = sum((c + l) * (c + l + 1) / 2 + m * (c + l + 1) for l, m in zip(hist, cand))
    else:
        pairs = sum((c + l + m) * (c + l + m + 1) / 2 for l, m in zip(hist, cand))
    per_layer = (2 * stu_tokens * d * h * (2 * dqk + 2 * dv) + 2 * pairs * h * (dqk + dv)
                 + 2 * stu_tokens * 3 * h * dv * d)
    post = 2 * k * (d + 4) * d if r.postprocessor == "timestamp_layer_norm" else 0
    item_tower = 2 * k * (2 * e * r.item_mlp_hidden_dim + r.item_mlp_hidden_dim * d)
    head = 2 * k * (d * r.head_hidden_dim + r.head_hidden_dim * len(r.tasks))
    return preprocessor + cfg.num_blocks * per_layer + post + item_tower + head


def ranking_training_flops(cfg: HSTUModelConfig, history: Iterable[int], candidates: Iterable[int],
                           padded: bool = True) -> float:
    """Forward + backward FLOPs of one ranking training step (3 x forward, as the retrieval model)."""
    return 3.0 * ranking_forward_flops(cfg, history, candidates, padded)


def ranking_training_flops_per_sample(cfg: HSTUModelConfig) -> float:
    """Training FLOPs of one request at the configured maximum: ``max_uih_len`` history items and
    ``max_num_candidates`` candidates (the sequence fills ``max_seq_len``; nothing is padded)."""
    r = cfg.ranking
    return ranking_training_flops(cfg, [r.max_uih_len], [r.max_num_candidates])
