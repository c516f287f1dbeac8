"""bench/_peer_dlrm.py hands facebookresearch/dlrm's ``DLRM_Net`` the same bags dlrmbench pools.

``DLRM_Net`` pools feature k with ``EmbeddingBag(ids[k], offsets[k])``; the bench's one-hot and
multi-hot batches must give it exactly the ids of each sample's bag, or the side-by-side compares
different work. Checked against the pooled sums computed from the batch directly.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import torch

from dlrmbench.batch import SparseFeatures

BENCH = Path(__file__).resolve().parents[2] / "bench"


def peer_inputs():  # noqa: ANN201
    spec = importlib.util.spec_from_file_location("_peer_dlrm", BENCH / "_peer_dlrm.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("_peer_dlrm", module)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.peer_inputs


def pooled_by_peer(table: torch.Tensor, offsets, ids) -> torch.Tensor:  # noqa: ANN001
    """(B, F, D) as DLRM_Net's apply_emb pools: one EmbeddingBag call per feature."""
    return torch.stack([torch.nn.functional.embedding_bag(ids[k], table, offsets[k], mode="sum")
                        for k in range(len(ids))], dim=1)


def test_multi_hot_bags_reach_the_peer_whole() -> None:
    gen = torch.Generator().manual_seed(0)
    table = torch.randn(50, 4, generator=gen, dtype=torch.float64)
    hotness, batch = (3, 1, 5), 4
    per_feature = [torch.randint(0, 50, (batch, hot), generator=gen) for hot in hotness]
    numerical = torch.randn(batch, 13)
    dense, offsets, ids = peer_inputs()(numerical, SparseFeatures.from_fixed(per_feature))
    assert dense is numerical
    expected = torch.stack([table[f].sum(dim=1) for f in per_feature], dim=1)  # (B, F, D)
    torch.testing.assert_close(pooled_by_peer(table, offsets, ids), expected, rtol=1e-12, atol=1e-12)


def test_one_hot_ids_reach_the_peer_whole() -> None:
    gen = torch.Generator().manual_seed(1)
    table = torch.randn(30, 4, generator=gen, dtype=torch.float64)
    categorical = torch.randint(0, 30, (6, 5), generator=gen)
    _, offsets, ids = peer_inputs()(torch.zeros(6, 13), categorical)
    assert torch.equal(pooled_by_peer(table, offsets, ids), table[categorical])
