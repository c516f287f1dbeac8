"""The Triton multi-hot bag kernel (interpreted on the CPU) against torch.nn.functional.embedding_bag."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("triton")

from dlrmbench_plugins.kernels.launch import interpreter_enabled  # noqa: E402

if not interpreter_enabled():
    pytest.skip("the Triton kernels run interpreted on the CPU (TRITON_INTERPRET=1)", allow_module_level=True)

from dlrmbench_plugins.kernels.bag import FusedBag  # noqa: E402


def _bags(sizes: list[int], lengths: torch.Tensor, batch: int, gen: torch.Generator):
    values = torch.cat([torch.randint(0, sizes[f], (int(lengths[f * batch:(f + 1) * batch].sum()),), generator=gen)
                        for f in range(len(sizes))])
    offsets = torch.cat([torch.zeros(1, dtype=torch.int64), lengths.cumsum(0)])
    return values, offsets


@pytest.mark.parametrize("dim", [8, 20, 128])
def test_forward_and_backward_equal_embedding_bag(dim: int) -> None:
    gen = torch.Generator().manual_seed(dim)
    sizes, batch = [9, 4, 30], 5
    table_offsets = torch.tensor([0, 9, 13])
    lengths = torch.randint(0, 6, (len(sizes) * batch,), generator=gen)  # includes empty bags
    lengths[0] = 0
    values, offsets = _bags(sizes, lengths, batch, gen)
    weight = torch.randn(sum(sizes), dim, generator=gen, requires_grad=True)
    out = FusedBag.apply(weight, values, offsets, table_offsets, batch, torch.float32)
    grad_out = torch.randn(batch, len(sizes), dim, generator=gen)
    (out * grad_out).sum().backward()

    ref_weight = weight.detach().clone().requires_grad_()
    expected = []
    for f in range(len(sizes)):
        sl = slice(int(offsets[f * batch]), int(offsets[(f + 1) * batch]))
        bag_offsets = offsets[f * batch:(f + 1) * batch] - offsets[f * batch]
        expected.append(torch.nn.functional.embedding_bag(values[sl] + table_offsets[f], ref_weight, bag_offsets,
                                                          mode="sum", include_last_offset=False))
    expected_out = torch.stack(expected, dim=1)
    (expected_out * grad_out).sum().backward()
    torch.testing.assert_close(out, expected_out, rtol=1e-5, atol=1e-5)
    assert weight.grad.is_sparse
    torch.testing.assert_close(weight.grad.to_dense(), ref_weight.grad, rtol=1e-5, atol=1e-5)
    assert torch.equal(out[0, 0], torch.zeros(dim))  # an empty bag pools to zeros


def test_fp16_output_accumulates_in_fp32() -> None:
    gen = torch.Generator().manual_seed(0)
    weight = torch.randn(20, 16, generator=gen)
    values = torch.randint(0, 20, (40,), generator=gen)
    offsets = torch.tensor([0, 10, 20, 30, 40])
    out = FusedBag.apply(weight, values, offsets, torch.tensor([0]), 4, torch.float16)
    expected = torch.nn.functional.embedding_bag(values, weight, offsets[:-1], mode="sum")
    assert out.dtype == torch.float16
    torch.testing.assert_close(out[:, 0].float(), expected, rtol=1e-2, atol=1e-2)


def test_joint_fused_pools_multi_hot_like_joint() -> None:
    """joint_fused (bag kernel) and joint (embedding_bag) agree on multi-hot ids, forward and table gradient."""
    from dlrmbench.batch import SparseFeatures
    from dlrmbench_plugins.embeddings._fused_tables import JointFusedEmbedding
    from dlrmbench_plugins.embeddings._tables import JointEmbedding

    sizes, batch, hot = [9, 4, 30], 5, [3, 1, 6]
    gen = torch.Generator().manual_seed(5)
    ids = SparseFeatures.from_fixed([torch.randint(0, n, (batch, h), generator=gen) for n, h in zip(sizes, hot)])
    fused, plain = JointFusedEmbedding(sizes, 8), JointEmbedding(sizes, 8)
    fused.reset_parameters(torch.Generator().manual_seed(1))
    plain.reset_parameters(torch.Generator().manual_seed(1))
    out_f, out_p = fused(ids), plain(ids)
    torch.testing.assert_close(out_f, out_p, rtol=1e-5, atol=1e-6)
    grad = torch.randn(out_p.shape, generator=gen)
    (out_f * grad).sum().backward()
    (out_p * grad).sum().backward()
    torch.testing.assert_close(fused.weight.grad.to_dense(), plain.weight.grad.to_dense(), rtol=1e-5, atol=1e-6)
