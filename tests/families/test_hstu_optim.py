"""Row-wise Adagrad (sparse rows) against TorchRec's dense RowWiseAdagrad, the independent implementation."""

from __future__ import annotations

import torch
from torchrec.optim.rowwise_adagrad import RowWiseAdagrad as TorchRecRowWiseAdagrad

from dlrmbench_plugins.families.hstu.config import HSTUOptimizerConfig
from dlrmbench_plugins.families.hstu.optim import RowWiseAdagrad, build_optimizers


def test_sparse_rowwise_adagrad_equals_torchrec_over_three_steps():
    torch.manual_seed(0)
    ours = torch.nn.Embedding(20, 6, sparse=True)
    theirs = torch.nn.Embedding(20, 6)
    theirs.load_state_dict(ours.state_dict())
    a = RowWiseAdagrad([ours.weight], lr=0.1, eps=1e-8)
    b = TorchRecRowWiseAdagrad([theirs.weight], lr=0.1, eps=1e-8)
    for step in range(3):
        ids = torch.tensor([1, 4, 4, 7, step + 10])  # duplicates are summed; untouched rows keep their state
        target = torch.randn(5, 6)
        for emb, opt in ((ours, a), (theirs, b)):
            opt.zero_grad()
            ((emb(ids) - target) ** 2).sum().backward()
            opt.step()
    assert torch.allclose(ours.weight, theirs.weight, atol=1e-6)
    assert torch.equal(ours.weight[0], theirs.weight[0])


def test_build_optimizers_splits_the_table_from_the_dense_weights():
    model = torch.nn.Sequential(torch.nn.Embedding(5, 3, sparse=True), torch.nn.Linear(3, 2))
    dense_only = build_optimizers(model, HSTUOptimizerConfig(), model[0])
    assert len(dense_only) == 1 and isinstance(dense_only[0], torch.optim.AdamW)
    split = build_optimizers(model, HSTUOptimizerConfig(name="adam", embedding="rowwise_adagrad"), model[0])
    assert type(split[0]) is torch.optim.Adam and isinstance(split[1], RowWiseAdagrad)
    assert all(p is not model[0].weight for p in split[0].param_groups[0]["params"])
