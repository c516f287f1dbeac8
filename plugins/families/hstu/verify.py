"""Verify rows for the HSTU family: every attention backend, and the ranking model, in float32 against float64.

For each backend of the registry: the encoder outputs (eval mode), the sampled-softmax loss, every gradient, and
every weight after one optimizer step of a small model, compared with the same model in float64 on the
materialising ``pytorch`` backend. A backend that cannot run here is a skipped row with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from dlrmbench_plugins.families.hstu.attention import BACKENDS
from dlrmbench_plugins.families.hstu.config import HSTUModelConfig, HSTUOptimizerConfig, HSTURankingConfig, RankingTask
from dlrmbench_plugins.families.hstu.model import HSTURetrieval, sample_negatives
from dlrmbench_plugins.families.hstu.ranking import HSTURanking, RankingBatch
from dlrmbench_plugins.families.hstu.optim import build_optimizers
from dlrmbench_plugins.families.hstu.synthetic import SyntheticSequencesConfig, generate

SMALL = HSTUModelConfig(num_items=200, item_embedding_dim=16, num_blocks=2, num_heads=2, dqk=8, dv=8,
                        max_sequence_length=24, num_negatives=16, input_dropout=0.0, linear_dropout=0.0)
TOLERANCE = {"eval outputs": 1e-5, "loss": 1e-5, "gradients": 1e-4, "weights after one step": 1e-5}


@dataclass(frozen=True)
class VerifyRow:
    """One comparison: the largest |float32 - float64| against its tolerance, or why it was skipped."""

    backend: str
    quantity: str
    max_abs_diff: Optional[float]
    tolerance: float
    skipped: Optional[str] = None

    @property
    def passed(self) -> bool:
        return self.skipped is None and self.max_abs_diff is not None and self.max_abs_diff <= self.tolerance


def _run(model: HSTURetrieval, batch, negatives, opt_cfg: HSTUOptimizerConfig) -> dict[str, dict[str, torch.Tensor]]:
    model.eval()
    with torch.no_grad():
        outputs = model.encode(batch)
    model.train()
    optimizers = build_optimizers(model, opt_cfg, model.item_emb)
    loss = model.sampled_softmax_loss(batch, negatives)
    loss.backward()
    grads = {n: (p.grad.to_dense() if p.grad.is_sparse else p.grad).clone() for n, p in model.named_parameters()}
    for opt in optimizers:
        opt.step()
    weights = {n: p.detach().clone() for n, p in model.named_parameters()}
    return {"eval outputs": {"": outputs}, "loss": {"": loss.detach().reshape(1)}, "gradients": grads,
            "weights after one step": weights}


RANKING_SMALL = HSTUModelConfig(
    task="ranking", num_items=256, item_embedding_dim=16, num_blocks=2, num_heads=2, dqk=8, dv=8, input_dropout=0.0,
    linear_dropout=0.0, ranking=HSTURankingConfig(
        embedding_dim=12, preprocessor_hidden_dim=16, item_mlp_hidden_dim=16, head_hidden_dim=16, num_users=32,
        num_categories=8, max_seq_len=48, max_num_candidates=4, max_num_candidates_inference=8,
        context_min_history=4, num_position_buckets=64, num_time_buckets=64,
        tasks=(RankingTask(name="rating", bit=1), RankingTask(name="like", bit=2))))


def ranking_batch(cfg: HSTUModelConfig = RANKING_SMALL, seed: int = 0) -> RankingBatch:
    """Four requests of histories 5, 1, 12 and 0 items and 3, 4, 1, 2 candidates, random ids, actions, times."""
    from dlrmbench_plugins.families.hstu.jagged import offsets_from_lengths

    g = torch.Generator().manual_seed(seed)
    r = cfg.ranking
    uih_len, cand_len = torch.tensor([5, 1, 12, 0]), torch.tensor([3, 4, 1, 2])
    u, k = int(uih_len.sum()), int(cand_len.sum())
    uih_ts = torch.randint(1_700_000_000, 1_700_900_000, (u,), generator=g)
    return RankingBatch(
        user_ids=torch.randint(0, r.num_users, (4,), generator=g),
        uih_ids=torch.randint(0, cfg.num_items, (u,), generator=g),
        uih_categories=torch.randint(0, r.num_categories, (u,), generator=g),
        uih_actions=torch.randint(0, 32, (u,), generator=g), uih_timestamps=uih_ts,
        uih_offsets=offsets_from_lengths(uih_len), cand_ids=torch.randint(0, cfg.num_items, (k,), generator=g),
        cand_categories=torch.randint(0, r.num_categories, (k,), generator=g),
        cand_actions=torch.randint(0, 4, (k,), generator=g),
        cand_timestamps=torch.full((k,), 1_701_000_000), cand_offsets=offsets_from_lengths(cand_len),
        request_ids=torch.arange(4))


def _run_ranking(model: HSTURanking, batch: RankingBatch, opt_cfg: HSTUOptimizerConfig
                 ) -> dict[str, dict[str, torch.Tensor]]:
    model.eval()
    with torch.no_grad():
        outputs = model(*batch.tensors())
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=opt_cfg.lr, betas=opt_cfg.betas, eps=opt_cfg.eps)
    loss = model.loss(batch)
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    opt.step()
    weights = {n: p.detach().clone() for n, p in model.named_parameters()}
    return {"eval outputs": {"": outputs}, "loss": {"": loss.detach().reshape(1)}, "gradients": grads,
            "weights after one step": weights}


def verify_ranking(cfg: HSTUModelConfig = RANKING_SMALL, device: str = "cpu", seed: int = 0) -> list[VerifyRow]:
    """The ranking model (pytorch attention, target-aware mask) in float32 against float64: logits, loss, every
    gradient, every weight after one Adam step."""
    batch = ranking_batch(cfg, seed).to(device)
    torch.manual_seed(seed)
    model = HSTURanking(cfg).to(device)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    reference = HSTURanking(cfg).to(device)
    reference.load_state_dict(state)
    opt_cfg = HSTUOptimizerConfig(name="adam", betas=(0.95, 0.999))
    expected = _run_ranking(reference.double(), batch, opt_cfg)
    got = _run_ranking(model, batch, opt_cfg)
    return [VerifyRow("ranking (pytorch)", quantity,
                      max(float((got[quantity][k].double() - expected[quantity][k]).abs().max())
                          for k in expected[quantity]), tol) for quantity, tol in TOLERANCE.items()]


def verify_backends(cfg: HSTUModelConfig = SMALL, opt_cfg: HSTUOptimizerConfig = HSTUOptimizerConfig(),
                    device: str = "cpu", seed: int = 0) -> list[VerifyRow]:
    """One row per (backend, quantity)."""
    data = generate(SyntheticSequencesConfig(num_users=8, num_items=cfg.num_items, num_clusters=10, min_length=5,
                                             max_length=cfg.max_sequence_length + 2, seed=seed))
    batch = data.batch(torch.arange(8), "train", cfg.max_sequence_length).to(device)
    negatives = sample_negatives(batch.num_items, cfg.num_negatives, data.all_item_ids.to(device),
                                 torch.Generator(device=device).manual_seed(seed))
    sparse = opt_cfg.embedding == "rowwise_adagrad"
    torch.manual_seed(seed)
    reference = HSTURetrieval(cfg, device, attention="pytorch", sparse_table=sparse).to(device)
    state = {k: v.clone() for k, v in reference.state_dict().items()}
    expected = _run(reference.double(), batch, negatives, opt_cfg)
    rows: list[VerifyRow] = []
    for name, backend in BACKENDS.items():
        reason = backend.check(device)
        if reason is not None:
            rows.append(VerifyRow(name, "all", None, 0.0, skipped=reason))
            continue
        model = HSTURetrieval(cfg, device, attention=name, sparse_table=sparse).to(device)
        model.load_state_dict(state)
        got = _run(model, batch, negatives, opt_cfg)
        for quantity, tol in TOLERANCE.items():
            diff = max(float((got[quantity][k].double() - expected[quantity][k]).abs().max())
                       for k in expected[quantity])
            rows.append(VerifyRow(name, quantity, diff, tol))
    return rows
