"""Row-sparse exact Adagrad against torch.optim.Adagrad on the dense equivalent."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dlrmbench.model.adagrad import ADAGRAD_EPS, DlrmAdagrad, RowSparseAdagrad


def _steps(batches: list[torch.Tensor], sparse_opt: str, fused: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Train a 10 x 4 table on ``batches`` of ids (loss: sum of squared looked-up rows weighted)."""
    torch.manual_seed(3)
    init = torch.randn(10, 4)
    target = torch.randn(4)
    sparse_table = nn.Embedding(10, 4, sparse=True)
    dense_table = nn.Embedding(10, 4, sparse=False)
    with torch.no_grad():
        sparse_table.weight.copy_(init)
        dense_table.weight.copy_(init)
    ours = DlrmAdagrad([], [sparse_table.weight], lr=0.1, fused=fused)
    theirs = torch.optim.Adagrad(dense_table.parameters(), lr=0.1, eps=ADAGRAD_EPS, initial_accumulator_value=0.0)
    for ids in batches:
        for table, opt in ((sparse_table, ours), (dense_table, theirs)):
            opt.zero_grad()
            ((table(ids) - target) ** 2).sum().backward()
            opt.step()
    return sparse_table.weight.detach(), dense_table.weight.detach()


@pytest.mark.parametrize("fused", [False, True])
def test_sparse_rows_equal_dense_adagrad(fused: bool) -> None:
    batches = [torch.tensor([1, 3, 3, 7]), torch.tensor([0, 1, 1, 1]), torch.tensor([9, 3])]  # duplicates
    ours, theirs = _steps(batches, "rows", fused)
    torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-6)


def test_untouched_rows_and_their_state_stay_put() -> None:
    w = nn.Parameter(torch.ones(6, 2))
    opt = RowSparseAdagrad([w], lr=1.0)
    w.grad = torch.sparse_coo_tensor(torch.tensor([[2, 2]]), torch.tensor([[1.0, 2.0], [1.0, 0.0]]), (6, 2),
                                     check_invariants=True)
    opt.step()
    state = opt.state[w]["sum"]
    assert torch.equal(state[2], torch.tensor([4.0, 4.0]))  # (1+1)^2, (2+0)^2: duplicates summed first
    torch.testing.assert_close(w.detach()[2], torch.tensor([1.0 - 2.0 / (2.0 + ADAGRAD_EPS)] * 2))
    others = [0, 1, 3, 4, 5]
    assert torch.equal(w.detach()[others], torch.ones(5, 2)) and torch.equal(state[others], torch.zeros(5, 2))


def test_dense_parameters_use_torch_adagrad_and_groups_take_the_schedule() -> None:
    dense = nn.Linear(3, 2)
    opt = DlrmAdagrad(list(dense.parameters()), [], lr=0.5)
    assert isinstance(opt.dense, torch.optim.Adagrad)
    assert opt.dense.defaults["eps"] == 1e-8 and opt.dense.defaults["initial_accumulator_value"] == 0.0
    for group in opt.param_groups:
        group["lr"] = 0.25
    assert opt.dense.param_groups[0]["lr"] == 0.25
