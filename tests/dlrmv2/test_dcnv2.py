"""The dcnv2 cross network against a float64 computation written out independently."""

from __future__ import annotations

import math

import pytest
import torch

from dlrmbench.model.dcnv2 import Dcnv2Interaction, LowRankCrossNet


def reference_cross(x0: torch.Tensor, layers: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """x_{l+1}[b, n] = x0[b, n] * (sum_r W[n, r] sum_m V[r, m] x_l[b, m] + b[n]) + x_l[b, n], in float64."""
    x0 = x0.double()
    x = x0.clone()
    for w, v, b in layers:
        cross = torch.einsum("nr,rm,bm->bn", w.double(), v.double(), x)
        x = x0 * (cross + b.double()) + x
    return x


def test_forward_matches_float64_reference() -> None:
    torch.manual_seed(0)
    bottom, embedded = torch.randn(5, 8), torch.randn(5, 3, 8)
    inter = Dcnv2Interaction(num_vectors=4, dim=8, num_layers=3, low_rank=6)
    with torch.no_grad():
        for bias in inter.crossnet.bias:
            bias.normal_()  # non-zero biases so that they are checked too
    x0 = torch.cat([bottom.unsqueeze(1), embedded], dim=1).flatten(1)
    layers = list(zip(inter.crossnet.W_kernels, inter.crossnet.V_kernels, inter.crossnet.bias))
    out = inter(bottom, embedded)
    assert out.shape == (5, 32) and inter.out_features == 32
    torch.testing.assert_close(out.double(), reference_cross(x0, layers), rtol=1e-5, atol=1e-5)


def test_backward_matches_float64_autograd() -> None:
    torch.manual_seed(1)
    net = LowRankCrossNet(12, num_layers=2, low_rank=4)
    x = torch.randn(3, 12, requires_grad=True)
    net(x).square().sum().backward()
    x64 = x.detach().double().requires_grad_()
    layers = [(w.detach().double().requires_grad_(), v.detach().double().requires_grad_(),
               b.detach().double().requires_grad_()) for w, v, b in zip(net.W_kernels, net.V_kernels, net.bias)]
    reference_cross(x64, layers).square().sum().backward()
    torch.testing.assert_close(x.grad.double(), x64.grad, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(net.W_kernels[0].grad.double(), layers[0][0].grad, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(net.V_kernels[1].grad.double(), layers[1][1].grad, rtol=1e-4, atol=1e-4)


def test_initialisation_is_xavier_normal_zero_bias_and_seeded() -> None:
    a = Dcnv2Interaction(27, 128, num_layers=3, low_rank=512)
    a.reset_parameters(torch.Generator().manual_seed(7))
    b = Dcnv2Interaction(27, 128, num_layers=3, low_rank=512)
    b.reset_parameters(torch.Generator().manual_seed(7))
    assert a.out_features == 3456  # the reference's (1 + 26) * 128, no padding
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    expected_std = math.sqrt(2.0 / (3456 + 512))
    for kernel in list(a.crossnet.W_kernels) + list(a.crossnet.V_kernels):
        assert kernel.std().item() == pytest.approx(expected_std, rel=0.01)
        assert abs(kernel.mean().item()) < 0.01 * expected_std * 10
    assert all(bool((bias == 0).all()) for bias in a.crossnet.bias)
    assert sum(p.numel() for p in a.parameters()) == 3 * (2 * 3456 * 512 + 3456)


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="low_rank >= 1"):
        LowRankCrossNet(8, num_layers=1, low_rank=0)


def test_dlrm_with_dcnv2_is_seeded_and_has_no_padding_rule() -> None:
    from tests.workload.helpers import TABLES, random_batch, tiny_case, workload

    case = tiny_case(model={"interaction": "dcnv2"})
    a = workload(case, None).model
    b = workload(case, None).model
    for (name, pa), pb in zip(a.named_parameters(), b.parameters()):
        assert torch.equal(pa, pb), name  # the cross network's draws come from the model's seeded generator
    assert a.interaction.out_features == 4 * 4 and a.interaction.crossnet.low_rank == 512
    first = next(m for m in a.top_mlp.modules() if isinstance(m, torch.nn.Linear))
    assert first.in_features == 16 and bool((first.weight[:, -1] != 0).all())
    batch = random_batch(4, 3, TABLES, 0)
    assert a(batch.numerical, batch.categorical).shape == (4,)


# verify on every strategy (multi-hot, Adagrad, against float64): tests/dlrmv2/test_verify_dlrmv2.py
