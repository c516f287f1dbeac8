"""The dot interaction as one autograd node whose backward is a single ``bmm``.

Forward: ``V = [bottom; embedded]`` (B, n, d), ``G = V V^T``, the strict lower triangle of ``G``
gathered row-major. Autograd's backward of ``bmm(V, V^T)`` runs two ``bmm`` s (one per operand)
and adds them; since only the lower triangle reaches the loss, ``dG`` is zero elsewhere and
``dV = dG V + dG^T V = (dG + dG^T) V``: gather the symmetric ``S`` from the pair gradients (one
``index_select``; the diagonal reads an appended zero column: half the time of zero-filling ``S`` and
scattering the pairs into it twice) and run one ``bmm``. Same arithmetic order per element as the
two-``bmm`` sum up to rounding.
"""

from __future__ import annotations

import torch


class DotInteractionFunction(torch.autograd.Function):
    """``(bottom (B, d), embedded (B, F, d)) -> (B, d + n(n-1)/2 + padding)`` with a one-bmm backward."""

    @staticmethod
    def forward(ctx, bottom: torch.Tensor, embedded: torch.Tensor, lower: torch.Tensor,  # type: ignore[override]
                upper: torch.Tensor, padding: int) -> torch.Tensor:
        vectors = torch.cat([bottom.unsqueeze(1), embedded.to(bottom.dtype)], dim=1)
        gram = torch.bmm(vectors, vectors.transpose(1, 2))
        pairs = gram.flatten(1).index_select(1, lower)
        pad = bottom.new_zeros(bottom.shape[0], padding)
        ctx.save_for_backward(vectors, lower, upper)
        ctx.embedded_dtype = embedded.dtype
        return torch.cat([bottom, pairs, pad], dim=1)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        vectors, lower, upper = ctx.saved_tensors
        batch, n, dim = vectors.shape
        grad = grad.to(vectors.dtype)
        pairs = lower.numel()
        pair_grad = torch.nn.functional.pad(grad[:, dim : dim + pairs], (0, 1))  # column ``pairs``: zero
        symmetric = pair_grad.index_select(1, symmetric_index(lower, upper, n))
        vectors_grad = torch.bmm(symmetric.view(batch, n, n), vectors)
        bottom_grad = vectors_grad[:, 0] + grad[:, :dim]
        embedded_grad = vectors_grad[:, 1:].to(ctx.embedded_dtype) if ctx.needs_input_grad[1] else None
        return bottom_grad, embedded_grad, None, None, None


def symmetric_index(lower: torch.Tensor, upper: torch.Tensor, n: int) -> torch.Tensor:
    """For each of the ``n * n`` places of ``S``, the pair whose gradient it holds: pair ``k`` at ``lower[k]``
    and at ``upper[k]``, the zero column (``len(lower)``) on the diagonal."""
    pairs = lower.numel()
    index = torch.full((n * n,), pairs, dtype=torch.long, device=lower.device)
    positions = torch.arange(pairs, device=lower.device)
    index[lower] = positions
    index[upper] = positions
    return index


def dot_interaction(bottom: torch.Tensor, embedded: torch.Tensor, lower: torch.Tensor, upper: torch.Tensor,
                    padding: int) -> torch.Tensor:
    """The dot interaction; ``lower``/``upper`` are the flat (row*n+col) indices of the strict lower
    triangle and of its transpose, in the same pair order.

    Without autograd (inference, tracing for export) it is plain tensor operations: nothing saved,
    nothing a TorchScript or ONNX exporter cannot see through.
    """
    if torch.is_grad_enabled() and (bottom.requires_grad or embedded.requires_grad):
        return DotInteractionFunction.apply(bottom, embedded, lower, upper, padding)
    vectors = torch.cat([bottom.unsqueeze(1), embedded.to(bottom.dtype)], dim=1)
    pairs = torch.bmm(vectors, vectors.transpose(1, 2)).flatten(1).index_select(1, lower)
    return torch.cat([bottom, pairs, bottom.new_zeros(bottom.shape[0], padding)], dim=1)
