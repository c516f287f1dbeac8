"""The DLRMv3 multitask ranking HSTU (GR ``modules/dlrm_hstu.py`` ``DlrmHSTU``), on jagged requests, PyTorch path.

Every layer follows the reference's PyTorch kernels (``ops/pytorch/``) and its streaming dlrm-v3 configuration
(docs/hstu.md, section "Ranking model"):

- tables: item id, item category, user id (``dlrm_v3/configs.py``), each ``ranking.embedding_dim`` wide;
- each request's history (UIH) and its candidates are merged into one sequence (``concat_2D_jagged``);
- ``ContextualPreprocessor``: content MLP on the item embedding + MLP on the category embedding (the
  ``additional_embedding_features``) + action MLP on the ``ActionEncoder`` (one table row per action bit of a
  history item; a learned target-action row for every candidate); the user embedding becomes one prepended
  contextual token (per-position batched linear), zeroed when the sequence has fewer than
  ``context_min_history`` items;
- ``HSTUPositionalEncoder``: ``x * sqrt(D)`` + position embedding (distance back from the last history item;
  candidates share one position) + time embedding (``sqrt((t_query - t) / 60)`` buckets), then dropout;
- DLRMv3 ``STULayer``: LayerNorm (affine) -> ``addmm`` with bias to U, V, Q, K -> SiLU on U ->
  ``SiLU(alpha QK^T) / N`` under the target-aware mask (N = the batch's longest sequence) ->
  ``cat[U, A, U * LayerNorm(A)]`` -> dropout -> ``x + y @ W``;
- candidates' outputs -> ``TimestampLayerNormPostprocessor`` (hour-of-day and day-of-week sin/cos) ->
  multitask head on ``user * item`` (item tower over the candidate's item and category embeddings) ->
  per-task logits; loss per task = sum BCE / max(candidates, 1) x ``causal_multitask_weights``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import nn

from dlrmbench_plugins.families.hstu.config import HSTUModelConfig
from dlrmbench_plugins.families.hstu.jagged import PaddedIndex, offsets_from_lengths, positions


@dataclass(frozen=True)
class RankingBatch:
    """B requests: each user's history (UIH) and candidates, jagged (values + offsets), as the reference's KJTs.

    Attributes:
        user_ids: (B,) user table rows.
        uih_ids, uih_categories, uih_actions, uih_timestamps: (U,) the histories; actions are action bits.
        uih_offsets: (B + 1,).
        cand_ids, cand_categories, cand_actions, cand_timestamps: (K,) the candidates; ``cand_actions`` holds the
            label bits (zeros where unknown, as the reference's inference), ``cand_timestamps`` the query time.
        cand_offsets: (B + 1,); every request has at least one candidate.
        request_ids: (B,) a request's index in its split (GAUC groups by it).
    """

    user_ids: torch.Tensor
    uih_ids: torch.Tensor
    uih_categories: torch.Tensor
    uih_actions: torch.Tensor
    uih_timestamps: torch.Tensor
    uih_offsets: torch.Tensor
    cand_ids: torch.Tensor
    cand_categories: torch.Tensor
    cand_actions: torch.Tensor
    cand_timestamps: torch.Tensor
    cand_offsets: torch.Tensor
    request_ids: torch.Tensor

    @property
    def batch_size(self) -> int:
        return self.user_ids.numel()

    @property
    def num_candidates(self) -> int:
        return self.cand_ids.numel()

    def to(self, device: Any, non_blocking: bool = False) -> "RankingBatch":
        """The same batch (subclass fields kept) with every tensor on ``device``."""
        return replace(self, **{f.name: getattr(self, f.name).to(device, non_blocking=non_blocking)
                                for f in fields(RankingBatch)})

    def tensors(self) -> tuple[torch.Tensor, ...]:
        """The model's inputs, in :meth:`HSTURanking.forward`'s order."""
        return tuple(getattr(self, f.name) for f in fields(RankingBatch))


def merge_jagged(left: torch.Tensor, left_offsets: torch.Tensor, right: torch.Tensor,
                 right_offsets: torch.Tensor) -> torch.Tensor:
    """Each sequence's left values then its right values (``concat_2D_jagged``), jagged."""
    left_len, right_len = left_offsets[1:] - left_offsets[:-1], right_offsets[1:] - right_offsets[:-1]
    out_offsets = offsets_from_lengths(left_len + right_len)
    left_dst = torch.repeat_interleave(out_offsets[:-1], left_len) + positions(left_offsets)
    right_dst = torch.repeat_interleave(out_offsets[:-1] + left_len, right_len) + positions(right_offsets)
    out = left.new_empty((left.shape[0] + right.shape[0],) + tuple(left.shape[1:]))
    out[left_dst] = left
    out[right_dst] = right
    return out


class SwishLayerNorm(nn.Module):
    """``x * sigmoid(LayerNorm(x))`` (GR ``ops/pytorch/pt_layer_norm.py``), eps 1e-5."""

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(F.layer_norm(x, [x.shape[-1]], self.weight, self.bias, self.eps))


def mlp(in_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    """Linear -> SwishLayerNorm -> Linear -> LayerNorm, xavier-uniform weights and zero biases
    (``init_mlp_weights_optional_bias``); the reference's LayerNorm module has eps 1e-5."""
    seq = nn.Sequential(nn.Linear(in_dim, hidden), SwishLayerNorm(hidden), nn.Linear(hidden, out_dim),
                        nn.LayerNorm(out_dim, eps=1e-5))
    for m in seq:
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
    return seq


def target_aware_mask(lengths: torch.Tensor, num_targets: Optional[torch.Tensor], n: int) -> torch.Tensor:
    """(B, N, N) ``_get_valid_attn_mask`` (causal, contextual_seq_len 0): history positions see earlier ones and
    themselves; every candidate shares the index of the end of the history, so it sees the history and itself but
    no other candidate. Padding positions see nothing real."""
    ids = torch.arange(n, device=lengths.device).view(1, n)
    if num_targets is not None:
        ids = torch.minimum(ids, (lengths - num_targets).view(-1, 1))
    else:
        ids = ids.expand(lengths.numel(), n)
    dist = ids.unsqueeze(2) - ids.unsqueeze(1)
    eye = torch.eye(n, dtype=torch.bool, device=lengths.device).unsqueeze(0)
    return eye | (dist > 0)


class RankingSTULayer(nn.Module):
    """The DLRMv3 ``STULayer`` (``modules/stu.py``, ``ops/hstu_compute.py``, ``ops/pytorch/pt_hstu_linear.py``)."""

    def __init__(self, cfg: HSTUModelConfig) -> None:
        super().__init__()
        d, h, dqk, dv = cfg.item_embedding_dim, cfg.num_heads, cfg.dqk, cfg.dv
        self.cfg = cfg
        self.alpha = cfg.ranking.attn_alpha or 1.0 / dqk ** 0.5
        self.uvqk_weight = nn.Parameter(torch.empty(d, (2 * dv + 2 * dqk) * h))
        nn.init.xavier_uniform_(self.uvqk_weight)
        self.uvqk_bias = nn.Parameter(torch.zeros((2 * dv + 2 * dqk) * h))
        self.input_norm_weight = nn.Parameter(torch.ones(d))
        self.input_norm_bias = nn.Parameter(torch.zeros(d))
        self.output_weight = nn.Parameter(torch.empty(3 * dv * h, d))
        nn.init.xavier_uniform_(self.output_weight)
        self.output_norm_weight = nn.Parameter(torch.ones(dv * h))
        self.output_norm_bias = nn.Parameter(torch.zeros(dv * h))

    def forward(self, x: torch.Tensor, offsets: torch.Tensor, num_targets: Optional[torch.Tensor],
                n: int) -> torch.Tensor:
        """(T, D) jagged in and out; ``n`` is the padded length that divides the scores."""
        cfg = self.cfg
        h, dqk, dv = cfg.num_heads, cfg.dqk, cfg.dv
        normed = F.layer_norm(x, [x.shape[-1]], self.input_norm_weight, self.input_norm_bias, cfg.layer_norm_eps)
        uvqk = torch.addmm(self.uvqk_bias, normed, self.uvqk_weight)
        u, v, q, k = torch.split(uvqk, [dv * h, dv * h, dqk * h, dqk * h], dim=1)
        u = F.silu(u)
        pad = PaddedIndex(offsets, max_length=n)
        qp = pad.to_padded(q).view(-1, n, h, dqk)
        kp = pad.to_padded(k).view(-1, n, h, dqk)
        vp = pad.to_padded(v).view(-1, n, h, dv)
        scores = F.silu(torch.einsum("bnhd,bmhd->bhnm", qp, kp) * self.alpha) / n
        mask = target_aware_mask(offsets[1:] - offsets[:-1], num_targets, n)
        attn = torch.einsum("bhnm,bmhd->bnhd", scores * mask.unsqueeze(1), vp).reshape(-1, n, h * dv)
        a = pad.to_jagged(attn)
        y = u * F.layer_norm(a, [h * dv], self.output_norm_weight, self.output_norm_bias, cfg.layer_norm_eps)
        y = F.dropout(torch.cat([u, a, y], dim=1), p=cfg.linear_dropout, training=self.training)
        return torch.addmm(x, y, self.output_weight)


class TimestampPostprocessor(nn.Module):
    """``TimestampLayerNormPostprocessor``: append cos/sin of hour-of-day and day-of-week (the reference's
    ``2 * 3.14`` angle), Linear(D + 4 -> D), LayerNorm (eps 1e-5)."""

    PERIODS = ((60 * 60, 24), (24 * 60 * 60, 7))

    def __init__(self, d: int) -> None:
        super().__init__()
        self.combiner = nn.Linear(d + 2 * len(self.PERIODS), d)
        nn.init.zeros_(self.combiner.bias)
        self.norm = nn.LayerNorm(d, eps=1e-5)
        self.register_buffer("period_units", torch.tensor([float(p[0]) for p in self.PERIODS]).view(1, -1),
                             persistent=False)
        self.register_buffer("units_per_period", torch.tensor([float(p[1]) for p in self.PERIODS]).view(1, -1),
                             persistent=False)

    def forward(self, x: torch.Tensor, timestamps: torch.Tensor) -> torch.Tensor:
        since = torch.div(timestamps.unsqueeze(-1).float(), self.period_units.float(), rounding_mode="floor")
        angle = torch.remainder(since, self.units_per_period) / self.units_per_period * 2 * 3.14
        feats = torch.stack([torch.cos(angle), torch.sin(angle)], dim=-1).flatten(-2, -1).to(x.dtype)
        return self.norm(self.combiner(torch.cat([x, feats], dim=-1)))


class HSTURanking(nn.Module):
    """The DLRMv3 ranking model: ``forward(*batch.tensors())`` gives the candidates' per-task logits (K, T).

    Args:
        cfg: the model configuration (``task: ranking``).
        sparse_tables: the three tables give sparse gradients (row-wise Adagrad).
    """

    def __init__(self, cfg: HSTUModelConfig, sparse_tables: bool = False) -> None:
        super().__init__()
        r = cfg.ranking
        self.cfg = cfg
        d, e, hidden = cfg.item_embedding_dim, r.embedding_dim, r.preprocessor_hidden_dim
        self.item_emb = nn.Embedding(cfg.num_items, e, sparse=sparse_tables)
        self.category_emb = nn.Embedding(r.num_categories, e, sparse=sparse_tables)
        self.user_emb = nn.Embedding(r.num_users, e, sparse=sparse_tables)
        with torch.no_grad():  # torchrec EmbeddingConfig: U(-sqrt(1/rows), sqrt(1/rows)); the category table U(-1, 1)
            for table, bound in ((self.item_emb, (1 / cfg.num_items) ** 0.5), (self.category_emb, 1.0),
                                 (self.user_emb, (1 / r.num_users) ** 0.5)):
                table.weight.uniform_(-bound, bound)
        # the preprocessor (ContextualPreprocessor)
        self.content_mlp = mlp(e, hidden, d)
        self.category_mlp = mlp(e, hidden, d)
        a = len(r.action_weights)
        self.register_buffer("action_bits", torch.tensor(r.action_weights), persistent=False)
        self.action_table = nn.Parameter(torch.empty(a, r.action_embedding_dim).normal_(0, r.action_embedding_init_std))
        self.target_action = nn.Parameter(torch.empty(1, a * r.action_embedding_dim).normal_(
            0, r.action_embedding_init_std))
        self.action_mlp = mlp(a * r.action_embedding_dim, hidden, d)
        c = r.contextual_len
        if c:
            std = (2.0 / (e + d)) ** 0.5
            self.context_weight = nn.Parameter(torch.empty(c, e, d).normal_(0.0, std))
            self.context_bias = nn.Parameter(torch.zeros(c, d))
        # the positional encoder (HSTUPositionalEncoder)
        self.position_emb = nn.Parameter(torch.empty(r.num_position_buckets, d).uniform_(
            -(1.0 / r.num_position_buckets) ** 0.5, (1.0 / r.num_position_buckets) ** 0.5))
        self.time_emb = nn.Parameter(torch.empty(r.num_time_buckets + 1, d).uniform_(
            -(1.0 / r.num_time_buckets) ** 0.5, (1.0 / r.num_time_buckets) ** 0.5))
        self.layers = nn.ModuleList(RankingSTULayer(cfg) for _ in range(cfg.num_blocks))
        if r.postprocessor == "timestamp_layer_norm":
            self.postprocessor: Optional[nn.Module] = TimestampPostprocessor(d)
        elif r.postprocessor == "layer_norm":
            self.postprocessor = nn.LayerNorm(d, eps=1e-5)
        else:
            self.postprocessor = None
        # HSTUTransducer.__init__ re-initialises every Linear of its preprocessor and postprocessor xavier-normal
        for module in (self.content_mlp, self.category_mlp, self.action_mlp, self.postprocessor):
            for m in (module.modules() if module is not None else ()):
                if isinstance(m, nn.Linear):
                    nn.init.xavier_normal_(m.weight)
        self.item_mlp = mlp(2 * e, r.item_mlp_hidden_dim, d)
        self.head = nn.Sequential(nn.Linear(d, r.head_hidden_dim), SwishLayerNorm(r.head_hidden_dim),
                                  nn.Linear(r.head_hidden_dim, len(r.tasks)))
        for m in self.head:
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        self.register_buffer("task_bits", torch.tensor([t.bit for t in r.tasks]), persistent=False)

    def tables(self) -> list[nn.Embedding]:
        return [self.item_emb, self.category_emb, self.user_emb]

    def _actions(self, uih_actions: torch.Tensor, uih_offsets: torch.Tensor, cand_offsets: torch.Tensor
                 ) -> torch.Tensor:
        """``ActionEncoder``: each history item's action bits embedded; candidates the target-action row."""
        bits = (torch.bitwise_and(uih_actions.unsqueeze(-1), self.action_bits.unsqueeze(0)) > 0)
        uih = (bits.unsqueeze(-1) * self.action_table.unsqueeze(0)).flatten(1, 2)
        cand = self.target_action.expand(int(cand_offsets[-1]), -1)
        return merge_jagged(uih, uih_offsets, cand, cand_offsets)

    def _positional(self, x: torch.Tensor, offsets: torch.Tensor, lengths: torch.Tensor, num_targets: torch.Tensor,
                    timestamps: torch.Tensor, n: int) -> torch.Tensor:
        """``pytorch_add_timestamp_positional_embeddings`` (contextual tokens take positions 0..C-1)."""
        r = self.cfg.ranking
        c = r.contextual_len
        col = torch.arange(n, device=x.device).expand(lengths.numel(), n)
        high = (lengths - num_targets).view(-1, 1)
        pos = high - torch.minimum(col, high) + c
        pos = torch.clamp(pos, max=self.position_emb.shape[0] - 1)
        if c:
            pos = pos.clone()
            pos[:, :c] = torch.arange(c, device=x.device)
        pad = PaddedIndex(offsets, max_length=n)
        ts = pad.to_padded(timestamps)
        query = torch.gather(ts, 1, (lengths - 1).clamp(min=0).unsqueeze(1))
        dt = (query - ts).clamp(min=1e-6) / r.time_bucket_seconds
        dt = torch.log(dt) if r.time_bucket_fn == "log" else torch.sqrt(dt)
        top = r.num_time_buckets if r.time_bucket_clamp == "table" else self.cfg.item_embedding_dim - 1
        buckets = torch.clamp(dt.clamp(min=0).int(), 0, top)
        added = self.position_emb[pos[pad.valid]] + self.time_emb[buckets[pad.valid].long()]
        return x * self.cfg.item_embedding_dim ** 0.5 + added.to(x.dtype)

    def forward(self, user_ids: torch.Tensor, uih_ids: torch.Tensor, uih_categories: torch.Tensor,
                uih_actions: torch.Tensor, uih_timestamps: torch.Tensor, uih_offsets: torch.Tensor,
                cand_ids: torch.Tensor, cand_categories: torch.Tensor, cand_actions: torch.Tensor,
                cand_timestamps: torch.Tensor, cand_offsets: torch.Tensor, request_ids: torch.Tensor
                ) -> torch.Tensor:
        """(K, T) logits of every candidate and task."""
        cfg, r = self.cfg, self.cfg.ranking
        uih_len, num_targets = uih_offsets[1:] - uih_offsets[:-1], cand_offsets[1:] - cand_offsets[:-1]
        item = merge_jagged(self.item_emb(uih_ids), uih_offsets, self.item_emb(cand_ids), cand_offsets)
        category = merge_jagged(self.category_emb(uih_categories), uih_offsets, self.category_emb(cand_categories),
                                cand_offsets)
        timestamps = merge_jagged(uih_timestamps, uih_offsets, cand_timestamps, cand_offsets)
        lengths = uih_len + num_targets
        c = r.contextual_len
        n = int(uih_len.max()) + int(num_targets.max()) + c  # the reference's max_uih_len + max_candidates (+ C)
        x = self.content_mlp(item) + self.category_mlp(category) + self.action_mlp(
            self._actions(uih_actions, uih_offsets, cand_offsets))
        if c:
            user = self.user_emb(user_ids) * (lengths >= r.context_min_history).unsqueeze(1).to(item.dtype)
            context = torch.baddbmm(self.context_bias.view(-1, 1, cfg.item_embedding_dim),
                                    user.unsqueeze(0).expand(c, -1, -1), self.context_weight).transpose(0, 1)
            ctx_offsets = torch.arange(0, (user_ids.numel() + 1) * c, c, device=x.device)
            x = merge_jagged(context.reshape(-1, cfg.item_embedding_dim), ctx_offsets, x, offsets_from_lengths(lengths))
            timestamps = merge_jagged(torch.zeros(user_ids.numel() * c, dtype=timestamps.dtype, device=x.device),
                                      ctx_offsets, timestamps, offsets_from_lengths(lengths))
            lengths = lengths + c
        offsets = offsets_from_lengths(lengths)
        x = self._positional(x, offsets, lengths, num_targets, timestamps, n)
        x = F.dropout(x, p=cfg.input_dropout, training=self.training)
        targets = num_targets if r.target_aware else None
        for layer in self.layers:
            x = layer(x, offsets, targets, n)
        cand_index = torch.repeat_interleave(offsets[1:] - num_targets, num_targets) + positions(cand_offsets)
        user_vec = x[cand_index]
        if isinstance(self.postprocessor, TimestampPostprocessor):
            user_vec = self.postprocessor(user_vec, timestamps[cand_index])
        elif self.postprocessor is not None:
            user_vec = self.postprocessor(user_vec)
        item_vec = self.item_mlp(torch.cat([self.item_emb(cand_ids), self.category_emb(cand_categories)], dim=-1))
        return self.head(user_vec * item_vec)

    def labels(self, cand_actions: torch.Tensor) -> torch.Tensor:
        """(K, T) float labels: ``(action bits & task bit) > 0`` per task."""
        return (torch.bitwise_and(cand_actions.unsqueeze(-1), self.task_bits.unsqueeze(0)) > 0).float()

    def candidate_losses(self, logits: torch.Tensor, cand_actions: torch.Tensor) -> torch.Tensor:
        """(K,) every candidate's summed task losses (BCE with logits x causal_multitask_weights); the reference's
        loss of a batch is their sum / max(K, 1) (every supervision weight 1)."""
        labels = self.labels(cand_actions).to(logits.dtype)
        bce = F.binary_cross_entropy_with_logits(logits, labels, reduction="none")
        return bce.sum(1) * self.cfg.ranking.causal_multitask_weights

    def loss(self, batch: RankingBatch) -> torch.Tensor:
        """The reference's training loss of one batch: sum over tasks of its mean BCE x the multitask weight."""
        return self.candidate_losses(self(*batch.tensors()), batch.cand_actions).sum() / max(batch.num_candidates, 1)


__all__ = ["HSTURanking", "RankingBatch", "RankingSTULayer", "merge_jagged", "target_aware_mask"]
