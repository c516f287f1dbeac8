"""HSTU attention backends against the formula, computed pair by pair, and against each other (float64)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from dlrmbench_plugins.families.hstu.attention import (
    BACKENDS, AttentionInputs, RelativeBias, attention_backend, jagged_attention, pytorch_attention)
from dlrmbench_plugins.families.hstu.jagged import offsets_from_lengths

LENGTHS = [3, 1, 6, 4]
HEADS, DQK, DV, N = 2, 3, 4, 9


def _inputs(seed: int = 0) -> tuple[AttentionInputs, RelativeBias]:
    g = torch.Generator().manual_seed(seed)
    total = sum(LENGTHS)
    offsets = offsets_from_lengths(torch.tensor(LENGTHS))
    ts = torch.cumsum(torch.randint(0, 5000, (total,), generator=g), 0)
    nxt = ts + torch.randint(0, 5000, (total,), generator=g)
    mk = lambda w: torch.randn(total, HEADS * w, generator=g, dtype=torch.float64).requires_grad_()  # noqa: E731
    torch.manual_seed(seed)
    bias = RelativeBias(N, num_buckets=128, divisor=0.301).double()
    with torch.no_grad():
        bias.pos_w.normal_(0, 0.5)
        bias.ts_w.normal_(0, 0.5)
    return AttentionInputs(mk(DQK), mk(DQK), mk(DV), offsets, ts, nxt, HEADS, N), bias


def _by_pairs(x: AttentionInputs, bias: RelativeBias) -> torch.Tensor:
    """The docstring's formula, one (user, head, i, j) at a time."""
    out = torch.zeros(x.q.shape[0], HEADS * DV, dtype=torch.float64)
    for b in range(len(LENGTHS)):
        lo = int(x.offsets[b])
        for h in range(HEADS):
            for i in range(LENGTHS[b]):
                acc = torch.zeros(DV, dtype=torch.float64)
                for j in range(i + 1):
                    qi, kj = x.q[lo + i, h * DQK:(h + 1) * DQK], x.k[lo + j, h * DQK:(h + 1) * DQK]
                    dt = int(x.next_timestamps[lo + i] - x.timestamps[lo + j])
                    bucket = min(128, max(0, int(torch.log(torch.tensor(float(max(abs(dt), 1)))) / 0.301)))
                    s = qi @ kj + bias.pos_w[N - 1 + j - i] + bias.ts_w[bucket]
                    acc = acc + F.silu(s) / N * x.v[lo + j, h * DV:(h + 1) * DV]
                out[lo + i, h * DV:(h + 1) * DV] = acc
    return out


@pytest.mark.parametrize("fn", [pytorch_attention, jagged_attention,
                                lambda x, b: jagged_attention(x, b, max_elements=40)],
                         ids=["pytorch", "jagged", "jagged-small-groups"])
def test_backends_compute_the_formula(fn):
    x, bias = _inputs()
    expected = _by_pairs(x, bias)
    assert torch.allclose(fn(x, bias), expected, atol=1e-12, rtol=1e-10)


def test_jagged_gradients_equal_autograd_of_the_reference_backend():
    grads = []
    for fn in (pytorch_attention, lambda x, b: jagged_attention(x, b, max_elements=40)):
        x, bias = _inputs(seed=3)
        out = fn(x, bias)
        (out * torch.linspace(-1, 1, out.numel(), dtype=torch.float64).view_as(out)).sum().backward()
        grads.append([x.q.grad, x.k.grad, x.v.grad, bias.pos_w.grad, bias.ts_w.grad])
    for a, b in zip(*grads):
        assert torch.allclose(a, b, atol=1e-12, rtol=1e-10)


def test_jagged_backend_passes_gradcheck():
    x, bias = _inputs(seed=5)

    def f(q, k, v, pos_w, ts_w):
        with torch.no_grad():
            bias.pos_w.copy_(pos_w)
            bias.ts_w.copy_(ts_w)
        from dlrmbench_plugins.families.hstu.attention import _JaggedAttention
        return _JaggedAttention.apply(q, k, v, pos_w, ts_w, x.offsets, x.timestamps, x.next_timestamps, HEADS, N,
                                      bias, 40)

    pos = bias.pos_w.detach().clone().requires_grad_()
    tsw = bias.ts_w.detach().clone().requires_grad_()
    assert torch.autograd.gradcheck(f, (x.q, x.k, x.v, pos, tsw), fast_mode=True)


def test_cuda_kernels_say_why_they_cannot_run_on_the_cpu():
    assert set(BACKENDS) == {"pytorch", "jagged", "triton", "fbgemm"}
    for name in ("triton", "fbgemm"):
        with pytest.raises(ValueError, match=f"attention backend '{name}' is not available: .*needs a CUDA GPU"):
            attention_backend(name, "cpu")
    with pytest.raises(ValueError, match="unknown attention backend 'flash'; choose one of pytorch, jagged"):
        attention_backend("flash", "cpu")
