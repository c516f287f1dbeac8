"""The CPU fast path: the one-bmm dot backward, SGD applied inside the embedding backward."""

from __future__ import annotations

import pytest
import torch

from dlrmbench.model.dot_autograd import dot_interaction
from dlrmbench.config.schema import Case
from dlrmbench.plugin_api import BuildContext
from dlrmbench.plugins import get_registry


def two_bmm_dot(bottom: torch.Tensor, embedded: torch.Tensor) -> torch.Tensor:
    """The dot interaction as autograd sees it without the custom node (the two-bmm backward)."""
    vectors = torch.cat([bottom.unsqueeze(1), embedded], dim=1)
    n = vectors.shape[1]
    rows, cols = torch.tril_indices(n, n, offset=-1)
    pairs = torch.bmm(vectors, vectors.transpose(1, 2))[:, rows, cols]
    return torch.cat([bottom, pairs, bottom.new_zeros(bottom.shape[0], 1)], dim=1)


def indices(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    rows, cols = torch.tril_indices(n, n, offset=-1)
    return rows * n + cols, cols * n + rows


def test_one_bmm_backward_passes_gradcheck_and_equals_autograd() -> None:
    gen = torch.Generator().manual_seed(0)
    bottom = torch.randn(5, 4, dtype=torch.float64, generator=gen, requires_grad=True)
    embedded = torch.randn(5, 3, 4, dtype=torch.float64, generator=gen, requires_grad=True)
    lower, upper = indices(4)
    torch.autograd.gradcheck(lambda b, e: dot_interaction(b, e, lower, upper, 1), (bottom, embedded))
    upstream = torch.randn(5, 4 + 6 + 1, dtype=torch.float64, generator=gen)
    ours = torch.autograd.grad(dot_interaction(bottom, embedded, lower, upper, 1), (bottom, embedded), upstream)
    theirs = torch.autograd.grad(two_bmm_dot(bottom, embedded), (bottom, embedded), upstream)
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_the_symmetric_gather_index_puts_each_pair_in_both_places() -> None:
    from dlrmbench.model.dot_autograd import symmetric_index

    n = 4
    lower, upper = indices(n)
    pairs = [(r, c) for r in range(n) for c in range(r)]  # row-major strict lower triangle
    expected = [[len(pairs)] * n for _ in range(n)]
    for k, (r, c) in enumerate(pairs):
        expected[r][c] = expected[c][r] = k
    assert symmetric_index(lower, upper, n).view(n, n).tolist() == expected


def test_without_autograd_the_interaction_is_plain_operations() -> None:
    bottom, embedded = torch.randn(3, 4), torch.randn(3, 2, 4)
    lower, upper = indices(3)
    with torch.no_grad():
        torch.testing.assert_close(dot_interaction(bottom, embedded, lower, upper, 1), two_bmm_dot(bottom, embedded))


def make(name: str, sizes: list[int], dim: int, **options: object) -> torch.nn.Module:
    spec = get_registry().get("embedding", name)
    case = Case(name="s", device="cpu", model={"bottom_mlp": [dim], "embedding_dim": dim})
    emb = spec.build(BuildContext(case, spec.options(**options), tuple(sizes)))
    emb.reset_parameters(torch.Generator().manual_seed(1))
    return emb


@pytest.mark.parametrize("gather", ["index_select", "embedding_bag"])
def test_sgd_in_backward_updates_touched_rows_once_per_occurrence(gather: str) -> None:
    emb = make("joint_sgd_in_backward", [4, 3], 2, gather=gather)
    before = emb.weight.detach().clone()
    ids = torch.tensor([[1, 2], [1, 0], [3, 2]])  # table 0 row 1 twice, table 1 row 2 twice
    assert emb.applies_own_optimizer
    emb.set_learning_rate(0.5)
    out = emb(ids)
    torch.testing.assert_close(out, before[ids + torch.tensor([0, 4])])
    upstream = torch.arange(12, dtype=torch.float32).view(3, 2, 2)
    out.backward(upstream)
    expected = before.clone()
    for b in range(3):
        for f, offset in enumerate((0, 4)):
            expected[ids[b, f] + offset] -= 0.5 * upstream[b, f]
    assert emb.weight.grad is None  # nothing left for the harness's optimizer
    torch.testing.assert_close(emb.weight.detach(), expected)


@pytest.mark.parametrize("name", ["joint_sgd_in_backward", "torchrec_fused"])
def test_a_loop_that_never_sets_the_rate_is_told_so(name: str) -> None:
    emb = make(name, [4, 3], 8)
    assert emb.applies_own_optimizer
    with pytest.raises(RuntimeError, match=r"must call set_learning_rate\(lr\) on it before each step"):
        emb(torch.tensor([[0, 1]]))
    with torch.no_grad():  # inference needs no rate
        assert emb(torch.tensor([[0, 1]])).shape == (1, 2, 8)
