"""The family's FLOPs formula against torch.utils.flop_counter on a small model (pytorch backend)."""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from dlrmbench_plugins.families.hstu.config import HSTUModelConfig
from dlrmbench_plugins.families.hstu.flops import encoder_flops, loss_flops, training_flops
from dlrmbench_plugins.families.hstu.jagged import SequenceBatch, offsets_from_lengths
from dlrmbench_plugins.families.hstu.model import HSTURetrieval, sample_negatives


def _batch(b: int, length: int, num_items: int) -> SequenceBatch:
    total = b * length
    ids = torch.randint(1, num_items + 1, (total,))
    return SequenceBatch(ids, torch.arange(total) * 60, torch.zeros_like(ids), offsets_from_lengths(
        torch.full((b,), length)), torch.randint(1, num_items + 1, (b,)), torch.full((b,), 10 ** 6),
        torch.zeros(b, dtype=torch.long))


def test_training_flops_equal_the_counted_matrix_products():
    torch.manual_seed(0)
    for concat_ua in (False, True):
        cfg = HSTUModelConfig(num_items=50, item_embedding_dim=12, num_blocks=2, num_heads=2, dqk=4, dv=6,
                              max_sequence_length=10, num_negatives=5, concat_ua=concat_ua, attention="pytorch")
        model = HSTURetrieval(cfg)
        b, length = 3, 7  # equal lengths: the materialising backend pads nothing
        batch = _batch(b, length, cfg.num_items)
        neg = sample_negatives(b * length, cfg.num_negatives, torch.arange(1, 51))
        with FlopCounterMode(display=False) as counter:
            model.sampled_softmax_loss(batch, neg).backward()
        # the pytorch backend computes every (i, j) pair, masked afterwards: the non-causal count
        assert counter.get_total_flops() == training_flops(cfg, [length] * b, causal=False)
        assert training_flops(cfg, [length]) == 3 * (encoder_flops(cfg, length) + loss_flops(cfg, length))
        assert encoder_flops(cfg, length, causal=False) > encoder_flops(cfg, length)
