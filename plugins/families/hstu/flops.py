"""FLOPs of the research HSTU: matrix products only, 2 FLOPs per multiply-accumulate.

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
