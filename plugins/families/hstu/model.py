"""The research HSTU retrieval model on jagged sequences (GR ``research/modeling/sequential/hstu.py``).

Layers and initialisation follow the reference's PyTorch path (docs/hstu.md, section "Model"):

- item table ``nn.Embedding(num_items + 1, D, padding_idx=0)``, truncated normal std 0.02;
- input: ``emb * sqrt(D) + pos_emb(position)``, dropout (``LearnablePositionalEmbeddingInputFeaturesPreprocessor``;
  the position table has N rows and is re-initialised xavier-normal by ``HSTU.reset_params``);
- STU layers: LayerNorm (no affine, eps 1e-6) -> one matmul to [U, V, Q, K] (no bias, N(0, 0.02)) -> SiLU on all
  -> attention (attention.py) -> ``U * LayerNorm(A)`` -> dropout -> Linear (xavier-uniform) + residual;
- postprocessor: L2 normalisation (or LayerNorm) of every position's output;
- loss: sampled softmax against uniformly drawn negatives, temperature 0.05 (``SampledSoftmaxLoss``,
  ``LocalNegativesSampler``); evaluation ranks the whole catalogue minus the user's history (``eval.py``).
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from dlrmbench_plugins.families.hstu.attention import AttentionInputs, RelativeBias, attention_backend
from dlrmbench_plugins.families.hstu.config import HSTUModelConfig
from dlrmbench_plugins.families.hstu.jagged import SequenceBatch, positions


def truncated_normal_(x: torch.Tensor, std: float) -> torch.Tensor:
    """The reference's truncated normal: resample outside (-2, 2) from four draws, then scale."""
    with torch.no_grad():
        tmp = x.new_empty(x.shape + (4,)).normal_()
        valid = (tmp < 2) & (tmp > -2)
        ind = valid.max(-1, keepdim=True)[1]
        x.copy_(tmp.gather(-1, ind).squeeze(-1)).mul_(std)
    return x


class STULayer(nn.Module):
    """One sequential transduction unit (``SequentialTransductionUnitJagged``, linear_config ``uvqk``)."""

    def __init__(self, cfg: HSTUModelConfig, attention: str, device: str) -> None:
        super().__init__()
        self.cfg = cfg
        d, h = cfg.item_embedding_dim, cfg.num_heads
        self.uvqk = nn.Parameter(torch.empty(d, 2 * h * cfg.dv + 2 * h * cfg.dqk).normal_(mean=0, std=0.02))
        self.o = nn.Linear(h * cfg.dv * (3 if cfg.concat_ua else 1), d)
        nn.init.xavier_uniform_(self.o.weight)
        self.rel_bias = (RelativeBias(cfg.padded_length, cfg.num_time_buckets, cfg.time_bucket_divisor)
                         if cfg.relative_attention_bias else None)
        self.attention = attention_backend(attention, device)

    def forward(self, x: torch.Tensor, batch: SequenceBatch, next_ts: torch.Tensor) -> torch.Tensor:
        """(T, D) jagged in, (T, D) out."""
        u, v, q, k = self.project(x)
        attn = self.attention(AttentionInputs(q, k, v, batch.offsets, batch.timestamps, next_ts, self.cfg.num_heads,
                                              self.cfg.padded_length), self.rel_bias)
        return self.combine(x, u, attn)

    def project(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """U, V, Q, K of (..., D) inputs: LayerNorm, one matmul, SiLU."""
        cfg = self.cfg
        h = cfg.num_heads
        normed = F.layer_norm(x, [cfg.item_embedding_dim], eps=cfg.layer_norm_eps)
        mixed = torch.mm(normed, self.uvqk) if x.dim() == 2 else torch.matmul(normed, self.uvqk)
        if cfg.linear_activation == "silu":
            mixed = F.silu(mixed)
        u, v, q, k = torch.split(mixed, [h * cfg.dv, h * cfg.dv, h * cfg.dqk, h * cfg.dqk], dim=-1)
        return u, v, q, k

    def combine(self, x: torch.Tensor, u: torch.Tensor, attn: torch.Tensor) -> torch.Tensor:
        """The gated output and the residual: x + o(dropout(U * LayerNorm(A)))."""
        cfg = self.cfg
        a = F.layer_norm(attn, [cfg.num_heads * cfg.dv], eps=cfg.layer_norm_eps)
        o_input = torch.cat([u, a, u * a], dim=-1) if cfg.concat_ua else u * a
        return self.o(F.dropout(o_input, p=cfg.linear_dropout, training=self.training)) + x


class HSTURetrieval(nn.Module):
    """Item table, input preprocessor, STU stack and output normalisation; the loss and ranking on top.

    Args:
        cfg: the model configuration.
        device: where it runs (the attention backend checks it).
        attention: overrides ``cfg.attention`` (verify compares backends on one model).
        sparse_table: the item table gives sparse gradients (for row-wise Adagrad).
    """

    def __init__(self, cfg: HSTUModelConfig, device: str = "cpu", attention: Optional[str] = None,
                 sparse_table: bool = False) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.item_embedding_dim
        self.item_emb = nn.Embedding(cfg.num_items + 1, d, padding_idx=0, sparse=sparse_table)
        truncated_normal_(self.item_emb.weight, std=0.02)
        self.pos_emb = nn.Embedding(cfg.padded_length, d)
        nn.init.xavier_normal_(self.pos_emb.weight)
        self.layers = nn.ModuleList(STULayer(cfg, attention or cfg.attention, device)
                                    for _ in range(cfg.num_blocks))

    def encode(self, batch: SequenceBatch) -> torch.Tensor:
        """(T, D): every history position's normalised output (the query that predicts the next item)."""
        cfg = self.cfg
        pos = positions(batch.offsets)
        x = self.item_emb(batch.ids) * (cfg.item_embedding_dim ** 0.5) + self.pos_emb(pos)
        x = F.dropout(x, p=cfg.input_dropout, training=self.training)
        next_ts = batch.next_timestamps()
        for layer in self.layers:
            x = layer(x, batch, next_ts)
        return self._postprocess(x)

    def _postprocess(self, x: torch.Tensor) -> torch.Tensor:
        if self.cfg.user_embedding_norm == "l2_norm":
            return x / torch.clamp(torch.linalg.norm(x, dim=-1, keepdim=True), min=self.cfg.output_norm_eps)
        return F.layer_norm(x, [self.cfg.item_embedding_dim], eps=self.cfg.output_norm_eps)

    def item_vectors(self, ids: torch.Tensor) -> torch.Tensor:
        """Item embeddings as the loss and the ranking see them (L2-normalised when ``item_l2_norm``)."""
        e = self.item_emb(ids)
        if self.cfg.item_l2_norm:
            e = e / torch.clamp(torch.linalg.norm(e, ord=2, dim=-1, keepdim=True), min=self.cfg.item_l2_norm_eps)
        return e

    def sampled_softmax_loss(self, batch: SequenceBatch, negatives: torch.Tensor,
                             reduction: str = "mean") -> torch.Tensor:
        """Mean (or ``reduction`` "sum", or "none": (T,)) over every history position of -log softmax(positive vs ``negatives``),
        (T, R) item ids. A negative equal to the position's positive gets logit -5e4 (the reference's masking).
        """
        query = self.encode(batch)
        positives = batch.supervision_ids()
        # Each distinct item is looked up and normalised once, then gathered (the reference normalises every
        # one of the T x R occurrences; the vectors are the same bit for bit, only the gradient sums' order differs).
        distinct, where = torch.unique(torch.cat([positives, negatives.reshape(-1)]), return_inverse=True)
        vectors = self.item_vectors(distinct)
        pos_vec = vectors[where[:positives.numel()]]
        neg_vec = vectors[where[positives.numel():]].view(negatives.shape + (vectors.shape[-1],))
        pos_logits = torch.bmm(pos_vec.unsqueeze(1), query.unsqueeze(2)).squeeze(2) / self.cfg.temperature
        neg_logits = torch.bmm(neg_vec, query.unsqueeze(2)).squeeze(2) / self.cfg.temperature
        neg_logits = torch.where(positives.unsqueeze(1) == negatives, -5e4, neg_logits)
        per_position = -F.log_softmax(torch.cat([pos_logits, neg_logits], dim=1), dim=1)[:, 0]
        if reduction == "none":
            return per_position
        return per_position.sum() if reduction == "sum" else per_position.mean()

    def user_vectors(self, batch: SequenceBatch) -> torch.Tensor:
        """(B, D): the output at each user's last history position (``get_current_embeddings``)."""
        return self.encode(batch)[batch.offsets[1:] - 1]


def sample_negatives(num_positions: int, num_negatives: int, all_item_ids: torch.Tensor,
                     generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """(T, R) ids drawn uniformly with replacement from ``all_item_ids`` (``LocalNegativesSampler``)."""
    draw = torch.randint(0, all_item_ids.numel(), (num_positions, num_negatives), generator=generator,
                         device=all_item_ids.device)
    return all_item_ids[draw]


def retrieval_ranks(model: HSTURetrieval, batch: SequenceBatch, all_item_ids: torch.Tensor) -> torch.Tensor:
    """(B,) each target's rank among all items not in the user's history (1 = best), capped at eval_max_k + 1.

    As the reference's ``eval_metrics_v2_from_tensors``: scores are dot products with the normalised item
    vectors; items in the history are removed (a target that is also in the history is then never found
    and ranks eval_max_k + 1); ranks beyond ``eval_max_k`` are eval_max_k + 1. Ties rank the target
    after every item with an equal score (a pessimistic, order-free rule). Non-finite scores (a model that
    diverged) raise :class:`~dlrmbench.metrics.auc.NonFiniteScores`: compared with NaN, every target would
    rank first.
    """
    from dlrmbench.metrics.auc import NonFiniteScores

    with torch.no_grad():
        users = model.user_vectors(batch)
        items = model.item_vectors(all_item_ids)
        scores = users @ items.T  # (B, X)
        bad = ~torch.isfinite(scores)
        if bool(bad.any()):
            raise NonFiniteScores(int(bad.sum()), scores.numel(), int(bad.reshape(-1).nonzero()[0]))
        seen = torch.zeros_like(scores, dtype=torch.bool)
        user_of = torch.repeat_interleave(torch.arange(batch.batch_size, device=scores.device), batch.lengths)
        column = torch.full((int(all_item_ids.max()) + 1,), -1, dtype=torch.int64, device=scores.device)
        column[all_item_ids] = torch.arange(all_item_ids.numel(), device=scores.device)
        hist_col = column[batch.ids]
        known = hist_col >= 0
        seen[user_of[known], hist_col[known]] = True
        target_col = column[batch.target_ids]
        target_score = scores.gather(1, target_col.unsqueeze(1))
        others = (scores >= target_score) & ~seen
        others.scatter_(1, target_col.unsqueeze(1), False)
        rank = others.sum(1) + 1
        cap = model.cfg.eval_max_k + 1
        target_seen = seen.gather(1, target_col.unsqueeze(1)).squeeze(1)
        rank = torch.where(target_seen | (rank > model.cfg.eval_max_k), cap, rank)
    return rank


def num_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


__all__ = ["HSTURetrieval", "STULayer", "num_parameters", "retrieval_ranks", "sample_negatives"]
