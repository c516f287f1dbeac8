"""Fused dot interaction, forward and backward, in the reference's output layout (facts sheet 1.5).

Per sample, the ``n = 1 + F`` vectors (bottom-MLP output first, read straight from the two input
tensors, no concatenation) form ``X`` (n x d); the kernel computes ``X Xᵀ`` on tensor cores and
writes ``[bottom (d), strict lower triangle row-major (n(n-1)/2), one zero]``. The backward rebuilds
the symmetric upstream gradient ``S = G + Gᵀ`` of the triangle and computes ``dX = S X`` (plus the
pass-through gradient of the bottom vector). Float32 (IEEE or TF32, following
``torch.backends.cuda.matmul.allow_tf32``), float16 and bfloat16 inputs; float32 accumulation.
Tiles are padded to powers of two >= 16, so any feature count and width work (within the limits
:data:`MAX_VECTORS` and :data:`MAX_DIM`, which keep a tile in registers).
"""

from __future__ import annotations

import torch
import triton.language as tl

from dlrmbench.model.interactions import interaction_width
from dlrmbench_plugins.kernels.launch import kernel_for, tile

MAX_VECTORS = 128
MAX_DIM = 512
SUPPORTED_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


def _dot_forward_kernel(
    bottom_ptr, emb_ptr, out_ptr, num_features, dim, width,
    BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, PRECISION: tl.constexpr,
):
    # Only Triton builtins here (no tl.sum, tl.zeros_like: they are jit functions of the standard
    # library, which the interpreter cannot call unless TRITON_INTERPRET was set at import).
    sample = tl.program_id(0).to(tl.int64)
    row = tl.arange(0, BLOCK_N)
    col = tl.arange(0, BLOCK_D)
    i = row[:, None]
    j = row[None, :]
    col_ok = col < dim
    bottom = tl.load(bottom_ptr + sample * dim + col, mask=col_ok, other=0.0)
    emb_ok = (i >= 1) & (i <= num_features) & col_ok[None, :]
    emb_at = emb_ptr + sample * num_features * dim + tl.maximum(i - 1, 0) * dim + col[None, :]
    emb = tl.load(emb_at, mask=emb_ok, other=0.0).to(bottom.dtype)
    x = tl.where(i == 0, bottom[None, :], emb)
    gram = tl.dot(x, tl.trans(x), input_precision=PRECISION)
    out_row = out_ptr + sample * width
    tl.store(out_row + col, bottom.to(out_ptr.dtype.element_ty), mask=col_ok)
    lower = (j < i) & (i <= num_features)
    tl.store(out_row + dim + (i * (i - 1)) // 2 + j, gram.to(out_ptr.dtype.element_ty), mask=lower)
    pad = tl.zeros([BLOCK_N], dtype=out_ptr.dtype.element_ty)
    tl.store(out_row + width - 1 + row, pad, mask=row == 0)


def _dot_backward_kernel(
    grad_ptr, bottom_ptr, emb_ptr, dbottom_ptr, demb_ptr, num_features, dim, width,
    BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, PRECISION: tl.constexpr,
):
    sample = tl.program_id(0).to(tl.int64)
    row = tl.arange(0, BLOCK_N)
    col = tl.arange(0, BLOCK_D)
    i = row[:, None]
    j = row[None, :]
    col_ok = col < dim
    bottom = tl.load(bottom_ptr + sample * dim + col, mask=col_ok, other=0.0)
    emb_ok = (i >= 1) & (i <= num_features) & col_ok[None, :]
    emb_offset = sample * num_features * dim + tl.maximum(i - 1, 0) * dim + col[None, :]
    emb = tl.load(emb_ptr + emb_offset, mask=emb_ok, other=0.0).to(bottom.dtype)
    x = tl.where(i == 0, bottom[None, :], emb)
    grad_row = grad_ptr + sample * width
    lower = (j < i) & (i <= num_features)
    upper = (i < j) & (j <= num_features)
    g_lower = tl.load(grad_row + dim + (i * (i - 1)) // 2 + j, mask=lower, other=0.0).to(tl.float32)
    g_upper = tl.load(grad_row + dim + (j * (j - 1)) // 2 + i, mask=upper, other=0.0).to(tl.float32)
    sym = (g_lower + g_upper).to(x.dtype)
    dx = tl.dot(sym, x, input_precision=PRECISION)
    g_first = tl.load(grad_row + col, mask=col_ok, other=0.0).to(tl.float32)
    dx = dx + tl.where(i == 0, g_first[None, :], 0.0)
    first_ok = (i == 0) & col_ok[None, :]
    tl.store(dbottom_ptr + sample * dim + i * 0 + col[None, :], dx.to(dbottom_ptr.dtype.element_ty), mask=first_ok)
    tl.store(demb_ptr + emb_offset, dx.to(demb_ptr.dtype.element_ty), mask=emb_ok)


def _precision(dtype: torch.dtype, device: torch.device) -> str:
    if dtype == torch.float32 and device.type == "cuda" and torch.backends.cuda.matmul.allow_tf32:
        return "tf32"
    return "ieee"


def _check(bottom: torch.Tensor, embedded: torch.Tensor) -> None:
    if bottom.dtype not in SUPPORTED_DTYPES:
        raise TypeError(f"the Triton dot interaction supports float32, float16 and bfloat16, not {bottom.dtype}")
    if embedded.dim() != 3 or embedded.shape[0] != bottom.shape[0] or embedded.shape[2] != bottom.shape[1]:
        raise ValueError(f"expected bottom (B, d) and embedded (B, F, d), got {tuple(bottom.shape)} and {tuple(embedded.shape)}")
    if embedded.shape[1] + 1 > MAX_VECTORS or bottom.shape[1] > MAX_DIM:
        raise ValueError(f"the Triton dot interaction handles up to {MAX_VECTORS - 1} features of dim <= {MAX_DIM}")


class TritonDotInteractionFunction(torch.autograd.Function):
    """``(B, d), (B, F, d) -> (B, d + n(n-1)/2 + 1)`` in the bottom vector's dtype."""

    @staticmethod
    def forward(ctx, bottom: torch.Tensor, embedded: torch.Tensor):  # type: ignore[override]
        _check(bottom, embedded)
        bottom, embedded = bottom.contiguous(), embedded.contiguous()
        batch, dim = bottom.shape
        features = embedded.shape[1]
        width = interaction_width("dot", features + 1, dim)
        out = torch.empty(batch, width, dtype=bottom.dtype, device=bottom.device)
        block_n, block_d = tile(features + 1), tile(dim)
        precision = _precision(bottom.dtype, bottom.device)
        if batch:
            kernel_for(_dot_forward_kernel, bottom.device)[(batch,)](
                bottom, embedded, out, features, dim, width, BLOCK_N=block_n, BLOCK_D=block_d, PRECISION=precision,
            )
        ctx.save_for_backward(bottom, embedded)
        ctx.meta = (width, block_n, block_d, precision)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        bottom, embedded = ctx.saved_tensors
        width, block_n, block_d, precision = ctx.meta
        grad = grad.contiguous()
        batch, dim = bottom.shape
        features = embedded.shape[1]
        d_bottom = torch.empty_like(bottom)
        d_embedded = torch.empty_like(embedded)
        if batch:
            kernel_for(_dot_backward_kernel, bottom.device)[(batch,)](
                grad, bottom, embedded, d_bottom, d_embedded, features, dim, width,
                BLOCK_N=block_n, BLOCK_D=block_d, PRECISION=precision,
            )
        return d_bottom, d_embedded


def triton_dot_interaction(bottom: torch.Tensor, embedded: torch.Tensor) -> torch.Tensor:
    return TritonDotInteractionFunction.apply(bottom, embedded)
