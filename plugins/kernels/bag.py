"""Fused multi-hot bag lookup (sum pooling) for ``joint_fused``: forward and backward in Triton.

Ids come in TorchRec's KeyedJaggedTensor layout (feature-major): ``values`` holds feature 0's bags for
samples 0..B-1, then feature 1's, ...; bag ``j = f * B + b`` is ``values[offsets[j]:offsets[j + 1]]``.
Forward: ``out[b, f] = sum_k weight[values[k] + table_offsets[f]]`` over bag ``(b, f)``, accumulated in
float32 and written in the output dtype (as FBGEMM's TBE pools). Backward: every id's row receives its
bag's output gradient (one kernel expands ``grad[b, f]`` to the bag's entries), returned as an
uncoalesced sparse COO gradient of the table, as the one-hot gather does; an exact optimizer sums
duplicates. Empty bags pool to zeros.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from dlrmbench_plugins.embeddings._fused_tables import sparse_rows_gradient
from dlrmbench_plugins.kernels.launch import kernel_for, tile

MAX_BLOCK_DIM = 128


def _bag_forward_kernel(weight_ptr, values_ptr, offsets_ptr, table_offsets_ptr, out_ptr, batch, num_features, dim,
                        weight_stride, BLOCK_D: tl.constexpr):
    bag = tl.program_id(0)
    col = tl.program_id(1) * BLOCK_D + tl.arange(0, BLOCK_D)
    mask = col < dim
    feature = bag // batch
    sample = bag % batch
    start = tl.load(offsets_ptr + bag)
    end = tl.load(offsets_ptr + bag + 1)
    base = tl.load(table_offsets_ptr + feature)
    acc = tl.zeros([BLOCK_D], dtype=tl.float32)
    for k in range(start, end):
        row = tl.load(values_ptr + k) + base
        acc += tl.load(weight_ptr + row * weight_stride + col, mask=mask, other=0.0).to(tl.float32)
    dest = (sample.to(tl.int64) * num_features + feature) * dim + col
    tl.store(out_ptr + dest, acc.to(out_ptr.dtype.element_ty), mask=mask)


def _bag_backward_kernel(grad_ptr, offsets_ptr, entry_grad_ptr, batch, num_features, dim, BLOCK_D: tl.constexpr):
    bag = tl.program_id(0)
    col = tl.program_id(1) * BLOCK_D + tl.arange(0, BLOCK_D)
    mask = col < dim
    feature = bag // batch
    sample = bag % batch
    start = tl.load(offsets_ptr + bag)  # int64 offsets: k * dim cannot overflow
    end = tl.load(offsets_ptr + bag + 1)
    g = tl.load(grad_ptr + (sample.to(tl.int64) * num_features + feature) * dim + col, mask=mask, other=0.0)
    for k in range(start, end):
        tl.store(entry_grad_ptr + k * dim + col, g.to(tl.float32), mask=mask)


def _grid(bags: int, dim: int) -> tuple[tuple[int, int], int]:
    block_d = min(tile(dim), MAX_BLOCK_DIM)
    return (bags, triton.cdiv(dim, block_d)), block_d


def bag_forward(weight: torch.Tensor, values: torch.Tensor, offsets: torch.Tensor, table_offsets: torch.Tensor,
                batch: int, out_dtype: torch.dtype) -> torch.Tensor:
    """Sum-pooled bags: ``(B, F, D)`` in ``out_dtype``."""
    features, dim = table_offsets.numel(), weight.shape[1]
    out = torch.empty(batch, features, dim, dtype=out_dtype, device=weight.device)
    if batch * features == 0:
        return out
    grid, block_d = _grid(batch * features, dim)
    kernel_for(_bag_forward_kernel, weight.device)[grid](
        weight, values.contiguous(), offsets.contiguous(), table_offsets, out, batch, features, dim, weight.stride(0),
        BLOCK_D=block_d)
    return out


def bag_backward_rows(grad: torch.Tensor, offsets: torch.Tensor, entries: int) -> torch.Tensor:
    """Each id's gradient row, ``(entries, D)`` float32: its bag's output gradient."""
    batch, features, dim = grad.shape
    out = torch.zeros(entries, dim, dtype=torch.float32, device=grad.device)
    if entries == 0:
        return out
    grid, block_d = _grid(batch * features, dim)
    kernel_for(_bag_backward_kernel, grad.device)[grid](grad.contiguous(), offsets.contiguous(), out, batch, features,
                                                        dim, BLOCK_D=block_d)
    return out


class FusedBag(torch.autograd.Function):
    """Forward: the bag kernel. Backward: the expansion kernel, then a sparse COO gradient of the table."""

    @staticmethod
    def forward(ctx, weight, values, offsets, table_offsets, batch: int, out_dtype: torch.dtype):  # type: ignore[override]
        ctx.save_for_backward(values, offsets, table_offsets)
        ctx.table_shape, ctx.batch = weight.shape, batch
        return bag_forward(weight, values, offsets, table_offsets, batch, out_dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        values, offsets, table_offsets = ctx.saved_tensors
        features = table_offsets.numel()
        lengths = offsets[1:] - offsets[:-1]
        feature_of_bag = torch.arange(features, device=values.device).repeat_interleave(ctx.batch)
        rows = values + table_offsets[feature_of_bag].repeat_interleave(lengths)
        entry_grad = bag_backward_rows(grad, offsets, values.numel())
        return sparse_rows_gradient(rows, entry_grad, ctx.table_shape), None, None, None, None, None
