"""The Triton kernels (interpreted on the CPU) against independent PyTorch computations."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("triton")

from dlrmbench_plugins.embeddings._fused_tables import JointFusedEmbedding  # noqa: E402
from dlrmbench_plugins.kernels.dot_interaction import triton_dot_interaction  # noqa: E402
from dlrmbench_plugins.kernels.gather import fused_gather  # noqa: E402
from dlrmbench_plugins.kernels.launch import interpreter_enabled  # noqa: E402

TOL = {torch.float32: 1e-5, torch.float16: 1e-2}


def reference_dot(bottom: torch.Tensor, embedded: torch.Tensor) -> torch.Tensor:
    """The reference layout written out with loops: bottom, (1,0), (2,0), (2,1), ..., one zero."""
    vectors = [bottom] + [embedded[:, f] for f in range(embedded.shape[1])]
    pairs = [(vectors[i] * vectors[j]).sum(1, keepdim=True) for i in range(len(vectors)) for j in range(i)]
    return torch.cat([bottom, *pairs, torch.zeros(bottom.shape[0], 1, dtype=bottom.dtype)], dim=1)


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach().double(), b.detach().double()
    return float((a - b).abs().max() / b.abs().max())


def test_interpreter_is_on() -> None:
    assert interpreter_enabled()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=["fp32", "fp16"])
@pytest.mark.parametrize("features,dim", [(1, 16), (4, 8), (20, 24)])
def test_dot_interaction_forward_and_backward(dtype: torch.dtype, features: int, dim: int) -> None:
    gen = torch.Generator().manual_seed(features * 100 + dim)
    bottom = torch.randn(5, dim, generator=gen).to(dtype).requires_grad_()
    embedded = torch.randn(5, features, dim, generator=gen).requires_grad_()  # float32 tables, as under AMP
    out = triton_dot_interaction(bottom, embedded)
    b64, e64 = bottom.detach().double().requires_grad_(), embedded.detach().double().requires_grad_()
    expected = reference_dot(b64, e64)
    assert out.dtype == dtype and out.shape == (5, dim + (features + 1) * features // 2 + 1)
    assert torch.equal(out[:, -1], torch.zeros(5, dtype=dtype))  # the padding column
    assert torch.equal(out[:, :dim], bottom.detach())  # bottom-MLP output copied first
    assert rel(out, expected) < TOL[dtype]
    grad = torch.randn(out.shape, generator=gen).to(dtype)
    grad[:, -1] = 0
    out.backward(grad)
    expected.backward(grad.double())
    assert bottom.grad.dtype == dtype and embedded.grad.dtype == torch.float32
    assert rel(bottom.grad, b64.grad) < TOL[dtype]
    assert rel(embedded.grad, e64.grad) < TOL[dtype]


@pytest.mark.parametrize("features,dim", [(3, 8), (30, 200)])
@pytest.mark.parametrize("out_dtype", [torch.float32, torch.float16], ids=["fp32", "fp16"])
def test_fused_gather_adds_offsets_in_any_shape(features: int, dim: int, out_dtype: torch.dtype) -> None:
    gen = torch.Generator().manual_seed(dim)
    sizes = torch.randint(1, 9, (features,), generator=gen)
    offsets = torch.cat([torch.zeros(1, dtype=torch.long), sizes.cumsum(0)[:-1]])
    weight = torch.randn(int(sizes.sum()), dim, generator=gen)
    ids = (torch.rand(6, features, generator=gen) * sizes).long()
    out = fused_gather(weight, ids, offsets, out_dtype)
    assert out.dtype == out_dtype
    assert torch.equal(out, weight[ids + offsets].to(out_dtype))


def test_joint_fused_gradient_is_sparse_and_matches_dense() -> None:
    sizes = [3, 5, 2]
    emb = JointFusedEmbedding(sizes, 16)
    emb.reset_parameters(torch.Generator().manual_seed(0))
    ids = torch.tensor([[0, 4, 1], [2, 4, 0], [0, 0, 1]])
    out = emb(ids)
    grad = torch.randn(out.shape, generator=torch.Generator().manual_seed(1))
    out.backward(grad)
    assert emb.weight.grad.is_sparse
    expected = torch.zeros(10, 16).index_add_(0, (ids + torch.tensor([0, 3, 8])).flatten(), grad.reshape(-1, 16))
    assert torch.allclose(emb.weight.grad.to_dense(), expected, atol=1e-6)


def test_joint_fused_writes_float16_under_autocast() -> None:
    emb = JointFusedEmbedding([4, 4], 16)
    emb.reset_parameters(torch.Generator().manual_seed(0))
    ids = torch.tensor([[1, 3]])
    with torch.autocast("cpu", dtype=torch.float16):
        out = emb(ids)
    assert out.dtype == torch.float16 and emb.weight.dtype == torch.float32
    assert torch.equal(out, emb.weight.detach()[torch.tensor([[1, 7]])].half())
