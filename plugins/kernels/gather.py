"""Fused embedding gather: ``out[b, f] = weight[ids[b, f] + offsets[f]]`` cast to the output dtype.

One kernel adds the per-feature offsets, gathers the rows and writes float16 directly under AMP
(facts sheet 1.4, ``gather_gpu_fused``). Unlike the reference (26 features of dim 128 only) it works
for any feature count and width: lookups and columns are tiled and masked. The backward is a sparse
COO gradient of the table (rows = ids + offsets, uncoalesced), as in the reference.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from dlrmbench_plugins.embeddings._fused_tables import sparse_rows_gradient
from dlrmbench_plugins.kernels.launch import kernel_for, tile

BLOCK_LOOKUPS = 32
MAX_BLOCK_DIM = 128


def _gather_kernel(
    weight_ptr, ids_ptr, offsets_ptr, out_ptr, num_lookups, num_features, dim, weight_stride,
    BLOCK_R: tl.constexpr, BLOCK_D: tl.constexpr,
):
    lookup = tl.program_id(0).to(tl.int64) * BLOCK_R + tl.arange(0, BLOCK_R)
    col = tl.program_id(1) * BLOCK_D + tl.arange(0, BLOCK_D)
    in_range = lookup < num_lookups
    ids = tl.load(ids_ptr + lookup, mask=in_range, other=0)
    rows = ids + tl.load(offsets_ptr + lookup % num_features, mask=in_range, other=0)
    mask = in_range[:, None] & (col[None, :] < dim)
    values = tl.load(weight_ptr + rows[:, None] * weight_stride + col[None, :], mask=mask, other=0.0)
    tl.store(out_ptr + lookup[:, None] * dim + col[None, :], values.to(out_ptr.dtype.element_ty), mask=mask)


def fused_gather(weight: torch.Tensor, ids: torch.Tensor, offsets: torch.Tensor, out_dtype: torch.dtype) -> torch.Tensor:
    """``(B, F)`` int64 ids (already checked or folded) -> ``(B, F, D)`` rows of ``weight`` in ``out_dtype``."""
    batch, features = ids.shape
    dim = weight.shape[1]
    ids = ids.contiguous()
    out = torch.empty(batch, features, dim, dtype=out_dtype, device=weight.device)
    lookups = batch * features
    if lookups == 0:
        return out
    block_d = min(tile(dim), MAX_BLOCK_DIM)
    grid = (triton.cdiv(lookups, BLOCK_LOOKUPS), triton.cdiv(dim, block_d))
    kernel_for(_gather_kernel, weight.device)[grid](
        weight, ids, offsets, out, lookups, features, dim, weight.stride(0),
        BLOCK_R=BLOCK_LOOKUPS, BLOCK_D=block_d,
    )
    return out


class FusedGather(torch.autograd.Function):
    """Forward: the fused kernel. Backward: a sparse COO gradient of the float32 table."""

    @staticmethod
    def forward(ctx, weight: torch.Tensor, ids: torch.Tensor, offsets: torch.Tensor, out_dtype: torch.dtype):  # type: ignore[override]
        ctx.save_for_backward(ids, offsets)
        ctx.table_shape = weight.shape
        return fused_gather(weight, ids, offsets, out_dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        ids, offsets = ctx.saved_tensors
        rows = ids + offsets
        return sparse_rows_gradient(rows, grad, ctx.table_shape), None, None, None
