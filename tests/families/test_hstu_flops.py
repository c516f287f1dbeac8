"""The family's FLOPs formulas (retrieval and ranking) against torch.utils.flop_counter on small models."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from dlrmbench_plugins.families.hstu.config import HSTUModelConfig
from dlrmbench_plugins.families.hstu.flops import (encoder_flops, loss_flops, ranking_forward_flops,
                                                   ranking_training_flops, ranking_training_flops_per_sample,
                                                   training_flops)
from dlrmbench_plugins.families.hstu.jagged import SequenceBatch, offsets_from_lengths
from dlrmbench_plugins.families.hstu.model import HSTURetrieval, sample_negatives
from dlrmbench_plugins.families.hstu.ranking import HSTURanking, target_aware_mask
from dlrmbench_plugins.families.hstu.verify import RANKING_SMALL, ranking_batch


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


@pytest.mark.parametrize("shape", [dict(num_blocks=2, num_heads=2, dqk=8, dv=8),
                                   dict(num_blocks=1, num_heads=3, dqk=4, dv=6, item_embedding_dim=24)])
def test_ranking_flops_equal_the_counted_matrix_products_forward_and_training(shape):
    cfg = RANKING_SMALL.model_copy(update=shape)
    torch.manual_seed(0)
    model = HSTURanking(cfg)
    batch = ranking_batch(cfg)  # histories 5, 1, 12, 0 and 3, 4, 1, 2 candidates: the scores are padded
    history = (batch.uih_offsets[1:] - batch.uih_offsets[:-1]).tolist()
    candidates = (batch.cand_offsets[1:] - batch.cand_offsets[:-1]).tolist()
    with FlopCounterMode(display=False) as counter:
        model(*batch.tensors())
    assert counter.get_total_flops() == ranking_forward_flops(cfg, history, candidates)
    with FlopCounterMode(display=False) as counter:
        model.loss(batch).backward()
    assert counter.get_total_flops() == ranking_training_flops(cfg, history, candidates)


def test_ranking_unpadded_flops_count_the_pairs_the_target_aware_mask_keeps():
    cfg = RANKING_SMALL
    h, width = cfg.num_heads, cfg.dqk + cfg.dv
    history, candidates, c = [5, 1, 12, 0], [3, 4, 1, 2], cfg.ranking.contextual_len
    lengths = torch.tensor([c + l + m for l, m in zip(history, candidates)])
    mask = target_aware_mask(lengths, torch.tensor(candidates), int(lengths.max()))
    valid = sum(int(mask[b, :n, :n].sum()) for b, n in enumerate(lengths.tolist()))
    n = max(history) + max(candidates) + c
    dropped = (len(history) * n * n - valid) * 2 * h * width * cfg.num_blocks
    assert ranking_forward_flops(cfg, history, candidates) - ranking_forward_flops(
        cfg, history, candidates, padded=False) == dropped
    # one request filling max_seq_len: nothing padded, but the masked pairs are still computed and counted
    r, s_len, k = cfg.ranking, cfg.ranking.max_seq_len, cfg.ranking.max_num_candidates
    per_request = ranking_training_flops_per_sample(cfg)
    assert per_request == ranking_training_flops(cfg, [r.max_uih_len], [k])
    kept = (s_len - k) * (s_len - k + 1) / 2 + k * (s_len - k + 1)
    assert per_request - ranking_training_flops(cfg, [r.max_uih_len], [k], padded=False) == (
        3 * cfg.num_blocks * 2 * h * width * (s_len * s_len - kept))
