"""HSTU's pointwise attention over jagged sequences, and the registry of its backends.

The function every backend computes (GR ``research/modeling/sequential/hstu.py``,
``_hstu_attention_maybe_from_cache`` with ``normalization="rel_bias"``), for each user and head::

    A[i, j] = SiLU(q_i . k_j + rab[i, j]) / N   for j <= i (causal), else 0
    out_i   = sum_j A[i, j] v_j

where N is the reference's padded length (``max_sequence_length + gr_output_length + 1``; no 1/sqrt(d)),
and ``rab[i, j] = pos_w[N - 1 + j - i] + ts_w[bucket(t_next_i - t_j)]`` with
``bucket(dt) = clamp(floor(ln(max(|dt|, 1)) / 0.301), 0, 128)`` (``RelativeBucketedTimeAndPositionBasedBias``).

Backends (``BACKENDS``):

- ``pytorch``: the materialising reference. It pads q, k, v to the batch's longest history and builds the
  (B, H, L, L) score tensor as the reference does (which pads to N itself); autograd differentiates it.
  It is the numerical reference of the others.
- ``jagged``: memory-efficient. Users are grouped by length, each group padded only to its own longest
  history, and a custom autograd function recomputes the scores in backward instead of keeping them:
  peak memory is one group's scores, not the batch's.
- ``triton``, ``fbgemm``: GR's Triton kernels and fbgemm_gpu's ``hstu_attn_varlen_func``. CUDA only;
  never available here (the check says why).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import nn

from dlrmbench_plugins.families.hstu.jagged import PaddedIndex


class RelativeBias(nn.Module):
    """Learned position bias (2N - 1 weights) plus bucketed time bias (``num_buckets + 1`` weights).

    Both drawn N(0, 0.02) as in the reference. ``N`` is the padded length the reference sizes them by.
    """

    def __init__(self, padded_length: int, num_buckets: int, divisor: float) -> None:
        super().__init__()
        self.padded_length = padded_length
        self.num_buckets = num_buckets
        self.divisor = divisor
        self.ts_w = nn.Parameter(torch.empty(num_buckets + 1).normal_(mean=0, std=0.02))
        self.pos_w = nn.Parameter(torch.empty(2 * padded_length - 1).normal_(mean=0, std=0.02))

    def buckets(self, ts_next: torch.Tensor, ts: torch.Tensor) -> torch.Tensor:
        """(G, L, L) bucket of t_next_i - t_j, computed exactly as the reference (float32 log, truncation)."""
        dt = ts_next.unsqueeze(2) - ts.unsqueeze(1)
        return torch.clamp((torch.log(torch.abs(dt).clamp(min=1)) / self.divisor).long(), 0, self.num_buckets)

    def position_index(self, length: int, device: torch.device) -> torch.Tensor:
        """(L, L) index N - 1 + j - i into pos_w."""
        ar = torch.arange(length, device=device)
        return self.padded_length - 1 + ar.unsqueeze(0) - ar.unsqueeze(1)

    def forward(self, ts_next: torch.Tensor, ts: torch.Tensor) -> torch.Tensor:
        """(G, L, L) rab from padded (G, L) next-item and item timestamps."""
        length = ts.shape[1]
        pos = self.pos_w[self.position_index(length, ts.device)]
        return pos.unsqueeze(0) + self.ts_w[self.buckets(ts_next, ts)]


@dataclass(frozen=True)
class AttentionInputs:
    """What every backend receives: jagged q (T, H*dqk), k, v (T, H*dv), and the sequence layout."""

    q: torch.Tensor
    k: torch.Tensor
    v: torch.Tensor
    offsets: torch.Tensor
    timestamps: torch.Tensor
    next_timestamps: torch.Tensor
    num_heads: int
    padded_length: int


AttentionFn = Callable[[AttentionInputs, Optional[RelativeBias]], torch.Tensor]


def dense_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, next_timestamps: torch.Tensor,
                    timestamps: torch.Tensor, bias: Optional[RelativeBias], num_heads: int,
                    padded_length: int) -> torch.Tensor:
    """The attention on a padded (B, L, H*d) layout; a real query only sees earlier positions, so padding at the
    end of a history never reaches a real output."""
    b, length = q.shape[0], q.shape[1]
    q = q.reshape(b, length, num_heads, -1)
    k = k.reshape(b, length, num_heads, -1)
    v = v.reshape(b, length, num_heads, -1)
    scores = torch.einsum("bnhd,bmhd->bhnm", q, k)
    if bias is not None:
        scores = scores + bias(next_timestamps, timestamps).unsqueeze(1)
    causal = torch.ones(length, length, dtype=torch.bool, device=q.device).tril()
    attn = F.silu(scores) / padded_length * causal.to(scores.dtype)
    return torch.einsum("bhnm,bmhd->bnhd", attn, v).reshape(b, length, -1)


def pytorch_attention(x: AttentionInputs, bias: Optional[RelativeBias]) -> torch.Tensor:
    """The materialising reference: dense (B, H, L, L) scores, autograd through all of it."""
    pad = PaddedIndex(x.offsets)
    out = dense_attention(pad.to_padded(x.q), pad.to_padded(x.k), pad.to_padded(x.v),
                          pad.to_padded(x.next_timestamps), pad.to_padded(x.timestamps), bias, x.num_heads,
                          x.padded_length)
    return pad.to_jagged(out)


def _groups(lengths: list[int], max_elements: int, heads: int) -> list[list[int]]:
    """Users sorted by length (longest first), cut so a group's G * L^2 * H scores stay under max_elements."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    groups: list[list[int]] = []
    for i in order:
        if groups:
            longest = lengths[groups[-1][0]]
            if (len(groups[-1]) + 1) * longest * longest * heads <= max_elements:
                groups[-1].append(i)
                continue
        groups.append([i])
    return groups


class _Group:
    """One group's padded layout: gather index (G, L) into the jagged values, and its masks."""

    def __init__(self, members: list[int], offsets: torch.Tensor, lengths: list[int], total: int) -> None:
        device = offsets.device
        self.length = max(lengths[m] for m in members)
        idx = torch.tensor(members, device=device)
        lens = torch.tensor([lengths[m] for m in members], device=device)
        col = torch.arange(self.length, device=device)
        self.valid = col.unsqueeze(0) < lens.unsqueeze(1)
        gather = offsets[idx].unsqueeze(1) + col.unsqueeze(0)
        self.gather = torch.where(self.valid, gather, torch.full_like(gather, total))
        self.rows = gather[self.valid]
        causal = torch.ones(self.length, self.length, dtype=torch.bool, device=device).tril()
        self.mask = (causal.unsqueeze(0) & self.valid.unsqueeze(2)).unsqueeze(1)  # (G, 1, L, L)


def _ext(t: torch.Tensor) -> torch.Tensor:
    return torch.cat([t, t.new_zeros((1,) + tuple(t.shape[1:]))])


class _JaggedAttention(torch.autograd.Function):
    """Grouped SiLU attention that keeps no score tensor between forward and backward."""

    @staticmethod
    def forward(ctx, q, k, v, pos_w, ts_w, offsets, ts, ts_next, heads, n, bias_mod, max_elements):  # type: ignore[override]
        lengths = (offsets[1:] - offsets[:-1]).tolist()
        total = q.shape[0]
        groups = [_Group(m, offsets, lengths, total) for m in _groups(lengths, max_elements, heads)]
        out = q.new_empty(total, v.shape[1])
        qe, ke, ve = _ext(q), _ext(k), _ext(v)
        tse, tne = _ext(ts), _ext(ts_next)
        for g in groups:
            scores, _, _, vg = _JaggedAttention._scores(g, qe, ke, ve, tse, tne, heads, bias_mod, pos_w, ts_w)
            attn = F.silu(scores) / n * g.mask
            o = torch.einsum("ghij,gjhd->gihd", attn, vg)
            out[g.rows] = o.reshape(o.shape[0], g.length, -1)[g.valid]
        ctx.save_for_backward(q, k, v, pos_w, ts_w, ts, ts_next)
        ctx.groups, ctx.heads, ctx.n, ctx.bias_mod = groups, heads, n, bias_mod
        return out

    @staticmethod
    def _scores(g, qe, ke, ve, tse, tne, heads, bias_mod, pos_w, ts_w):
        shape = (g.gather.shape[0], g.length, heads, -1)
        qg, kg, vg = qe[g.gather].view(shape), ke[g.gather].view(shape), ve[g.gather].view(shape)
        scores = torch.einsum("gihd,gjhd->ghij", qg, kg)
        if bias_mod is not None:
            pos = pos_w[bias_mod.position_index(g.length, qg.device)]
            buckets = bias_mod.buckets(tne[g.gather], tse[g.gather])
            scores = scores + (pos.unsqueeze(0) + ts_w[buckets]).unsqueeze(1)
        return scores, qg, kg, vg

    @staticmethod
    def backward(ctx, grad_out):  # type: ignore[override]
        q, k, v, pos_w, ts_w, ts, ts_next = ctx.saved_tensors
        heads, n, bias_mod = ctx.heads, ctx.n, ctx.bias_mod
        dq, dk, dv = torch.zeros_like(q), torch.zeros_like(k), torch.zeros_like(v)
        dpos = torch.zeros_like(pos_w) if bias_mod is not None else None
        dts = torch.zeros_like(ts_w) if bias_mod is not None else None
        qe, ke, ve, goe = _ext(q), _ext(k), _ext(v), _ext(grad_out.contiguous())
        tse, tne = _ext(ts), _ext(ts_next)
        for g in ctx.groups:
            scores, qg, kg, vg = _JaggedAttention._scores(g, qe, ke, ve, tse, tne, heads, bias_mod, pos_w, ts_w)
            gog = goe[g.gather].view(vg.shape)
            sig = torch.sigmoid(scores)
            mask = g.mask.to(scores.dtype) / n
            attn = scores * sig * mask
            d_scores = torch.einsum("gihd,gjhd->ghij", gog, vg) * (sig * (1 + scores * (1 - sig))) * mask
            dv[g.rows] = torch.einsum("ghij,gihd->gjhd", attn, gog).reshape(qg.shape[0], g.length, -1)[g.valid]
            dq[g.rows] = torch.einsum("ghij,gjhd->gihd", d_scores, kg).reshape(qg.shape[0], g.length, -1)[g.valid]
            dk[g.rows] = torch.einsum("ghij,gihd->gjhd", d_scores, qg).reshape(qg.shape[0], g.length, -1)[g.valid]
            if bias_mod is not None:
                d_rab = d_scores.sum(1)  # (G, L, L); zero where masked
                pos_idx = bias_mod.position_index(g.length, q.device).expand_as(d_rab)
                dpos.index_add_(0, pos_idx.reshape(-1), d_rab.reshape(-1))
                buckets = bias_mod.buckets(tne[g.gather], tse[g.gather])
                dts.index_add_(0, buckets.reshape(-1), d_rab.reshape(-1))
        return dq, dk, dv, dpos, dts, None, None, None, None, None, None, None


def jagged_attention(x: AttentionInputs, bias: Optional[RelativeBias], max_elements: int = 1 << 22) -> torch.Tensor:
    """Memory-efficient attention: length groups of at most ``max_elements`` scores, recomputed in backward."""
    if bias is not None:
        pos_w, ts_w = bias.pos_w, bias.ts_w
    else:
        pos_w = ts_w = x.q.new_zeros(1)
    return _JaggedAttention.apply(x.q, x.k, x.v, pos_w, ts_w, x.offsets, x.timestamps, x.next_timestamps,
                                  x.num_heads, x.padded_length, bias, max_elements)


@dataclass(frozen=True)
class AttentionBackend:
    """One attention implementation: its name, what it is, and why it cannot run here (None: it can)."""

    name: str
    summary: str
    fn: Optional[AttentionFn]
    check: Callable[[str], Optional[str]]


def _always(device: str) -> Optional[str]:
    return None


def _cuda_kernel(module: str, what: str) -> Callable[[str], Optional[str]]:
    def check(device: str) -> Optional[str]:
        if not device.startswith("cuda") or not torch.cuda.is_available():
            return f"{what} needs a CUDA GPU (its kernels assert CUDA tensors)"
        if importlib.util.find_spec(module) is None:
            return f"{what} is not installed (module {module})"
        return "not wired in dlrmbench yet: validate it on a GPU first"
    return check


BACKENDS: dict[str, AttentionBackend] = {
    b.name: b for b in (
        AttentionBackend("pytorch", "materialising reference: dense (B, H, L, L) scores", pytorch_attention, _always),
        AttentionBackend("jagged", "length-grouped, scores recomputed in backward", jagged_attention, _always),
        AttentionBackend("triton", "GR's Triton HSTU attention (CUDA)", None,
                         _cuda_kernel("generative_recommenders.ops.triton", "GR's Triton HSTU attention")),
        AttentionBackend("fbgemm", "fbgemm_gpu experimental hstu_attn_varlen_func (CUDA)", None,
                         _cuda_kernel("hstu", "fbgemm_gpu's HSTU attention (fbgemm-gpu-hstu)")),
    )
}


def attention_backend(name: str, device: str) -> AttentionFn:
    """The backend's function, or ValueError naming why it cannot run on ``device``."""
    if name not in BACKENDS:
        raise ValueError(f"unknown attention backend {name!r}; choose one of {', '.join(BACKENDS)}")
    backend = BACKENDS[name]
    reason = backend.check(device)
    if reason is not None or backend.fn is None:
        raise ValueError(f"attention backend {name!r} is not available: {reason}")
    return backend.fn
