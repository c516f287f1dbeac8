"""The ``hstu`` family through dlrmbench's workload-family contract (imports torch).

- batches: :class:`FamilyBatch`, a :class:`SequenceBatch` with the sampled negatives of every position and the
  global batch's tokens per user, so that a data-parallel rank's slice (``samples``) scores exactly what one
  process would (its loss is its sum over positions / (its users x the global tokens per user));
- model: :class:`HSTUWorkloadModel`: in training ``forward`` returns every position's sampled-softmax loss, in
  evaluation every user's rank of the held-out item among items 1..num_items minus the history;
- the item table is ``model.embeddings`` (the core's sparse group: row-wise Adagrad when the optimizer says so).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Iterator

import torch
from torch import nn

from dlrmbench.data.errors import DatasetError
from dlrmbench.metrics.auc import NonFiniteScores
from dlrmbench_plugins.families.hstu.config import HSTUModelConfig
from dlrmbench_plugins.families.hstu.jagged import SequenceBatch, offsets_from_lengths
from dlrmbench_plugins.families.hstu.metrics import (
    accuracy, grouped_auc, normalized_entropy, per_task_auc, retrieval_metrics)
from dlrmbench_plugins.families.hstu.model import HSTURetrieval, retrieval_ranks, sample_negatives
from dlrmbench_plugins.families.hstu.ranking import HSTURanking, RankingBatch
from dlrmbench_plugins.families.hstu.optim import RowWiseAdagrad
from dlrmbench_plugins.families.hstu.plugin import KS
from dlrmbench_plugins.families.hstu.sequences import UserSequences


@dataclass(frozen=True)
class FamilyBatch(SequenceBatch):
    """A batch as the core moves it: users' histories, the negatives (T, R) and the global tokens per user."""

    negatives: torch.Tensor = None  # type: ignore[assignment]
    tokens_per_user: float = 1.0

    @property
    def size(self) -> int:
        return self.batch_size

    def to(self, device: Any, non_blocking: bool = False) -> "FamilyBatch":
        moved = {f.name: getattr(self, f.name) for f in fields(self)}
        for k, v in moved.items():
            if isinstance(v, torch.Tensor):
                moved[k] = v.to(device, non_blocking=non_blocking)
        return FamilyBatch(**moved)

    def samples(self, start: int, stop: int) -> "FamilyBatch":
        """Users [start, stop) with their positions' negatives; tokens_per_user stays the global batch's."""
        lo, hi = int(self.offsets[start]), int(self.offsets[stop])
        return FamilyBatch(ids=self.ids[lo:hi], timestamps=self.timestamps[lo:hi], ratings=self.ratings[lo:hi],
                           offsets=self.offsets[start:stop + 1] - lo, target_ids=self.target_ids[start:stop],
                           target_timestamps=self.target_timestamps[start:stop],
                           target_ratings=self.target_ratings[start:stop], negatives=self.negatives[lo:hi],
                           tokens_per_user=self.tokens_per_user)


class HSTUWorkloadModel(nn.Module):
    """``forward(ids, timestamps, offsets, target_ids, target_timestamps, negatives)``: per-position losses (T,)
    in training, per-user ranks (B,) in evaluation."""

    def __init__(self, cfg: HSTUModelConfig, device: str, sparse_table: bool) -> None:
        super().__init__()
        self.hstu = HSTURetrieval(cfg, device=device, sparse_table=sparse_table)
        self.embeddings = self.hstu.item_emb  # the table: the core's sparse parameter group
        self.register_buffer("all_item_ids", torch.arange(1, cfg.num_items + 1), persistent=False)

    def forward(self, ids: torch.Tensor, timestamps: torch.Tensor, offsets: torch.Tensor, target_ids: torch.Tensor,
                target_timestamps: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor:
        batch = SequenceBatch(ids, timestamps, torch.zeros_like(ids), offsets, target_ids, target_timestamps,
                              torch.zeros_like(target_ids))
        if self.training:
            return self.hstu.sampled_softmax_loss(batch, negatives, reduction="none")
        return retrieval_ranks(self.hstu, batch, self.all_item_ids).float()


class HSTUFamily:
    """The family object the core asks (see docs/families.md) for the retrieval model; :class:`RankingFamily`
    answers for ``task: ranking``."""

    def __init__(self, config: Any) -> None:
        self.config = config

    def build_model(self, ctx: Any, build: Any) -> nn.Module:
        torch.manual_seed(ctx.case.seed)
        return HSTUWorkloadModel(self.config, "cpu", _rowwise_tables(ctx))  # an HSTUConfig is an HSTUModelConfig

    def model_inputs(self, batch: FamilyBatch) -> tuple[Any, ...]:
        return (batch.ids, batch.timestamps, batch.offsets, batch.target_ids, batch.target_timestamps,
                batch.negatives)

    def target(self, batch: FamilyBatch) -> torch.Tensor:
        """The loss's denominator: this batch's users x the global batch's tokens per user."""
        return torch.tensor(batch.size * batch.tokens_per_user, dtype=torch.float32)

    def loss(self, outputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return outputs.float().sum() / target.to(outputs.device)

    def eval_rows(self, outputs: torch.Tensor, target: Any) -> dict[str, torch.Tensor]:
        return {"rank": outputs.float()}

    def metrics(self, rows: dict[str, torch.Tensor]) -> dict[str, float]:
        rank = rows["rank"]
        if not bool(torch.isfinite(rank).all()):
            raise ValueError("non-finite ranks in the evaluation (the model's outputs diverged)")
        got = retrieval_metrics(rank, KS)
        return {k.replace("@", "_at_"): v for k, v in got.items()}

    def check_batch(self, batch: FamilyBatch, table_sizes: list[int]) -> None:
        top = self.config.num_items
        for name, ids in (("ids", batch.ids), ("target_ids", batch.target_ids)):
            if ids.numel() and (int(ids.min()) < 1 or int(ids.max()) > top):
                raise ValueError(f"the dataset's {name} run from {int(ids.min())} to {int(ids.max())}; "
                                 f"model.num_items is {top} (ids 1..num_items): raise model.num_items")

    def units(self, batch: FamilyBatch) -> dict[str, float]:
        return {"tokens": float(batch.num_items)}

    def serving(self, model: nn.Module, dataset: Any) -> Any:
        """The model as served (serving.py): top-K retrieval over jagged histories, for export and LoadGen."""
        from dlrmbench_plugins.families.hstu.serving import build_served

        return build_served(model, dataset, KS, "hr_at_10")


def _rowwise_tables(ctx: Any) -> bool:
    opt = ctx.case.optimizer
    return opt.name == "adam" and (opt.options or {}).get("tables") == "rowwise_adagrad"


@dataclass(frozen=True)
class RankingFamilyBatch(RankingBatch):
    """A ranking batch as the core moves it; ``candidates_per_request`` is the global batch's (the loss's
    denominator on a data-parallel rank's slice)."""

    candidates_per_request: float = 1.0

    @property
    def size(self) -> int:
        return self.batch_size

    def samples(self, start: int, stop: int) -> "RankingFamilyBatch":
        """Requests [start, stop) with their histories and candidates."""
        ulo, uhi = int(self.uih_offsets[start]), int(self.uih_offsets[stop])
        clo, chi = int(self.cand_offsets[start]), int(self.cand_offsets[stop])
        return RankingFamilyBatch(
            user_ids=self.user_ids[start:stop], uih_ids=self.uih_ids[ulo:uhi],
            uih_categories=self.uih_categories[ulo:uhi], uih_actions=self.uih_actions[ulo:uhi],
            uih_timestamps=self.uih_timestamps[ulo:uhi], uih_offsets=self.uih_offsets[start:stop + 1] - ulo,
            cand_ids=self.cand_ids[clo:chi], cand_categories=self.cand_categories[clo:chi],
            cand_actions=self.cand_actions[clo:chi], cand_timestamps=self.cand_timestamps[clo:chi],
            cand_offsets=self.cand_offsets[start:stop + 1] - clo, request_ids=self.request_ids[start:stop],
            candidates_per_request=self.candidates_per_request)


class RankingWorkloadModel(nn.Module):
    """``forward(*batch.tensors())``: every candidate's summed task losses (K,) in training; in evaluation
    (K, 2T + 1): the T task probabilities, the T labels and the request index of every candidate."""

    def __init__(self, cfg: HSTUModelConfig, sparse_tables: bool) -> None:
        super().__init__()
        self.hstu = HSTURanking(cfg, sparse_tables=sparse_tables)
        self.embeddings = nn.ModuleList(self.hstu.tables())  # the core's sparse group

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        logits = self.hstu(*inputs)
        cand_actions, cand_offsets, request_ids = inputs[8], inputs[10], inputs[11]
        if self.training:
            return self.hstu.candidate_losses(logits, cand_actions)
        request = torch.repeat_interleave(request_ids, cand_offsets[1:] - cand_offsets[:-1]).to(logits.dtype)
        return torch.cat([torch.sigmoid(logits), self.hstu.labels(cand_actions).to(logits.dtype),
                          request.unsqueeze(1)], dim=1)


class RankingFamily:
    """The family object of ``task: ranking``: per-task NE, accuracy, AUC and GAUC over the candidates."""

    def __init__(self, config: Any) -> None:
        self.config = config
        self.tasks = [t.name for t in config.ranking.tasks]

    def build_model(self, ctx: Any, build: Any) -> nn.Module:
        torch.manual_seed(ctx.case.seed)
        return RankingWorkloadModel(self.config, _rowwise_tables(ctx))

    def model_inputs(self, batch: RankingFamilyBatch) -> tuple[Any, ...]:
        return batch.tensors()

    def target(self, batch: RankingFamilyBatch) -> torch.Tensor:
        """The loss's denominator: this batch's requests x the global batch's candidates per request."""
        return torch.tensor(batch.size * batch.candidates_per_request, dtype=torch.float32)

    def loss(self, outputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return outputs.float().sum() / target.to(outputs.device).clamp(min=1.0)

    def eval_rows(self, outputs: torch.Tensor, target: Any) -> dict[str, torch.Tensor]:
        t = len(self.tasks)
        rows = {f"p_{name}": outputs[:, i].float() for i, name in enumerate(self.tasks)}
        rows.update({f"y_{name}": outputs[:, t + i].float() for i, name in enumerate(self.tasks)})
        rows["request"] = outputs[:, 2 * t].float()
        return rows

    def metrics(self, rows: dict[str, torch.Tensor]) -> dict[str, float]:
        return ranking_metrics(rows, self.tasks)

    def check_batch(self, batch: RankingFamilyBatch, table_sizes: list[int]) -> None:
        r = self.config.ranking
        for name, ids, top in (("item ids", torch.cat([batch.uih_ids, batch.cand_ids]), self.config.num_items),
                               ("category ids", torch.cat([batch.uih_categories, batch.cand_categories]),
                                r.num_categories), ("user ids", batch.user_ids, r.num_users)):
            if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= top):
                raise ValueError(f"the dataset's {name} run from {int(ids.min())} to {int(ids.max())}; the model's "
                                 f"table has {top} rows (ids 0..{top - 1}): raise model.num_items, "
                                 "model.ranking.num_categories or model.ranking.num_users")

    def units(self, batch: RankingFamilyBatch) -> dict[str, float]:
        return {"tokens": float(batch.uih_ids.numel() + batch.cand_ids.numel())}

    def serving(self, model: nn.Module, dataset: Any) -> Any:
        """The ranking model as served (ranking_serving.py): every candidate's task probabilities, for LoadGen."""
        from dlrmbench_plugins.families.hstu.ranking_serving import build_ranking_served

        return build_ranking_served(model, dataset, self.tasks)


def ranking_metrics(rows: dict[str, torch.Tensor], tasks: list[str]) -> dict[str, float]:
    """``ne_<task>``, ``accuracy_<task>``, ``auc_<task>`` (over all candidates) and ``gauc_<task>`` (per request)."""
    request = rows["request"].long()
    order = torch.argsort(request, stable=True)
    counts = torch.unique_consecutive(request[order], return_counts=True)[1]
    offsets = torch.cat([counts.new_zeros(1), torch.cumsum(counts, 0)])
    out: dict[str, float] = {}
    for name in tasks:
        p, y = rows[f"p_{name}"], rows[f"y_{name}"]
        bad = ~torch.isfinite(p)
        if bool(bad.any()):  # as the retrieval scores and the DLRM logits: the project's one error for it
            raise NonFiniteScores(int(bad.sum()), p.numel(), int(bad.nonzero()[0]))
        out[f"ne_{name}"] = normalized_entropy(p, y)
        out[f"accuracy_{name}"] = accuracy(p, y)
        out[f"auc_{name}"] = per_task_auc(p.unsqueeze(1), y.unsqueeze(1), [name])[f"auc/{name}"]
        out[f"gauc_{name}"] = grouped_auc(p[order], y[order], offsets)
    return out


def build_family(ctx: Any) -> Any:
    """The retrieval family object, or the ranking one for ``task: ranking``."""
    if getattr(ctx.options, "task", "retrieval") == "ranking":
        return RankingFamily(ctx.options)
    return HSTUFamily(ctx.options)


class SequenceStream:
    """A split's batches: train = shuffled users (a new order and new negatives every pass), test = in order."""

    def __init__(self, data: UserSequences, split: str, batch_size: int, cfg: Any, seed: int) -> None:
        self.data, self.split, self.batch_size, self.cfg, self.seed = data, split, batch_size, cfg, seed
        self.passes = 0
        # the negatives come from the candidates the model ranks at evaluation (HSTUWorkloadModel.all_item_ids:
        # items 1..num_items), not from the items a file happens to hold: one candidate set for both
        self.candidates = torch.arange(1, cfg.num_items + 1)

    def __len__(self) -> int:
        if self.split == "train":
            return self.data.num_users // self.batch_size  # complete batches only
        return math.ceil(self.data.num_users / self.batch_size)

    def __iter__(self) -> Iterator[FamilyBatch]:
        train = self.split == "train"
        epoch, self.passes = self.passes, self.passes + 1
        chunks = self.data.user_chunks(self.batch_size, shuffle=train, seed=self.seed + epoch)
        for step, users in enumerate(chunks):
            if train and users.numel() < self.batch_size:
                return
            b = self.data.batch(users, "train" if train else "eval", self.cfg.max_sequence_length)
            if train:
                g = torch.Generator().manual_seed((self.seed * 1_000_003 + epoch) * 1_000_003 + step)
                negatives = sample_negatives(b.num_items, self.cfg.num_negatives, self.candidates, g)
            else:
                negatives = torch.zeros(b.num_items, 0, dtype=torch.int64)
            yield FamilyBatch(**{f.name: getattr(b, f.name) for f in fields(SequenceBatch)}, negatives=negatives,
                              tokens_per_user=b.num_items / b.batch_size)


class SequenceDataset:
    """Users' sequences split leave-one-out: ``train`` and ``test`` (the reference's eval) over the same users."""

    def __init__(self, data: UserSequences, cfg: Any, seed: int) -> None:
        self.data, self.cfg, self.seed = data, cfg, seed

    def table_sizes(self) -> list[int]:
        return [self.cfg.num_items + 1]

    def batches(self, split: str, batch_size: int, device: Any) -> SequenceStream:
        return SequenceStream(self.data, split, batch_size, self.cfg, self.seed)


def build_synthetic(ctx: Any) -> SequenceDataset:
    from dlrmbench_plugins.families.hstu.synthetic import SyntheticSequencesConfig, generate

    options = SyntheticSequencesConfig(**ctx.options.model_dump())
    cfg = ctx.case.model
    if options.num_items != cfg.num_items:
        raise DatasetError(f"dataset.options.num_items {options.num_items} differs from model.num_items "
                           f"{cfg.num_items}; give both the same value")
    return SequenceDataset(generate(options), cfg, options.seed)


def build_sasrec_csv(ctx: Any) -> SequenceDataset:
    from dlrmbench_plugins.families.hstu.sasrec_csv import read_sasrec_csv

    cfg = ctx.case.model
    data = read_sasrec_csv(Path(ctx.options.path), num_items=cfg.num_items, shift_ids=ctx.options.shift_ids)
    return SequenceDataset(data, cfg, ctx.options.seed)


class RankingStream:
    """A split's request batches in timestamp order (the reference's streaming order); only complete batches
    in training."""

    def __init__(self, requests: Any, split: str, batch_size: int, cfg: Any, action_weights: tuple[int, ...],
                 items_per_category: int) -> None:
        self.requests, self.split, self.batch_size, self.cfg = requests, split, batch_size, cfg
        self.action_weights = torch.tensor(action_weights)
        self.items_per_category = items_per_category
        r = cfg.ranking
        self.max_candidates = r.max_num_candidates if split == "train" else r.max_num_candidates_inference

    def __len__(self) -> int:
        n = len(self.requests)
        return n // self.batch_size if self.split == "train" else math.ceil(n / self.batch_size)

    def __iter__(self) -> Iterator[RankingFamilyBatch]:
        for step in range(len(self)):
            lo = step * self.batch_size
            yield self.batch(range(lo, min(lo + self.batch_size, len(self.requests))))

    def batch(self, index: range) -> RankingFamilyBatch:
        """The requests at ``index``: histories cut to their first max_uih_len items (``maybe_truncate_seq``),
        candidates to the split's maximum; actions and labels from the ratings (``load_item``)."""
        import numpy as np

        req, keep = self.requests, self.cfg.ranking.max_uih_len
        uih = [req.uih_items[i][:keep] for i in index]
        uih_r = [req.uih_ratings[i][:keep] for i in index]
        cand = [req.cand_items[i][:self.max_candidates] for i in index]
        cand_r = [req.cand_ratings[i][:self.max_candidates] for i in index]
        uih_ids = torch.from_numpy(np.concatenate(uih).astype(np.int64))
        cand_ids = torch.from_numpy(np.concatenate(cand).astype(np.int64))
        ratings = torch.from_numpy(np.concatenate(uih_r))
        cand_ratings = torch.from_numpy(np.concatenate(cand_r))
        uih_len = torch.tensor([len(x) for x in uih], dtype=torch.int64)
        cand_len = torch.tensor([len(x) for x in cand], dtype=torch.int64)
        query = (uih_len > 0).long()  # every history timestamp is 1; the query time is their max (0 if none)
        return RankingFamilyBatch(
            user_ids=torch.tensor([req.users[i] for i in index], dtype=torch.int64), uih_ids=uih_ids,
            uih_categories=uih_ids // self.items_per_category,
            uih_actions=self.action_weights[ratings.long() - 1], uih_timestamps=torch.ones_like(uih_ids),
            uih_offsets=offsets_from_lengths(uih_len), cand_ids=cand_ids,
            cand_categories=cand_ids // self.items_per_category, cand_actions=(cand_ratings >= 3.5).long(),
            cand_timestamps=torch.repeat_interleave(query, cand_len), cand_offsets=offsets_from_lengths(cand_len),
            request_ids=torch.tensor(list(index), dtype=torch.int64),
            candidates_per_request=float(cand_ids.numel()) / max(1, len(index)))


class StreamingDataset:
    """dlrm-v3 streaming requests: ``train`` = the training timestamps' requests, ``test`` = the inference
    timestamps' requests (MLPerf dlrm-v3's accuracy set)."""

    def __init__(self, data: Any, cfg: Any) -> None:
        self.data, self.cfg = data, cfg

    def table_sizes(self) -> list[int]:
        r = self.cfg.ranking
        return [self.cfg.num_items, r.num_categories, r.num_users]

    def batches(self, split: str, batch_size: int, device: Any) -> RankingStream:
        requests = self.data.train if split == "train" else self.data.inference
        c = self.data.config
        return RankingStream(requests, split, batch_size, self.cfg, c.action_weights, c.items_per_category)


def build_streaming(ctx: Any) -> StreamingDataset:
    from dlrmbench_plugins.families.hstu.streaming import StreamingConfig, generate_streaming

    options = StreamingConfig(**ctx.options.model_dump())
    cfg = ctx.case.model
    if getattr(cfg, "task", "retrieval") != "ranking":
        raise DatasetError("dataset dlrmv3_streaming feeds the ranking model: set model.task: ranking")
    for field, mine, theirs in (("num_items", options.num_items, cfg.num_items),
                                ("num_categories", options.num_categories, cfg.ranking.num_categories)):
        if mine != theirs:
            raise DatasetError(f"dataset.options.{field} {mine} differs from the model's {theirs}; give both the "
                               "same value")
    if options.num_users > cfg.ranking.num_users:
        raise DatasetError(f"dataset.options.num_users {options.num_users} exceeds model.ranking.num_users "
                           f"{cfg.ranking.num_users}: raise model.ranking.num_users")
    try:
        data = generate_streaming(options)
    except ValueError as e:
        raise DatasetError(f"dataset dlrmv3_streaming: {e}") from None
    return StreamingDataset(data, cfg)


class _AdamTables(torch.optim.Optimizer):
    """Adam(W) on the dense groups and row-wise Adagrad on the sparse (table) groups, one optimizer: the core's
    learning-rate schedule sets ``lr`` on these groups, which each step passes on."""

    def __init__(self, groups: list[dict[str, Any]], options: Any) -> None:
        super().__init__(groups, dict(lr=1e-3))
        cls = torch.optim.AdamW if options.variant == "adamw" else torch.optim.Adam
        dense = [g for g in self.param_groups if not (g.get("sparse") and options.tables == "rowwise_adagrad")]
        rows = [g for g in self.param_groups if g.get("sparse") and options.tables == "rowwise_adagrad"]
        self._pairs = []
        if dense:
            inner = cls([{"params": g["params"]} for g in dense], lr=1e-3, betas=options.betas, eps=options.eps,
                        weight_decay=options.weight_decay)
            self._pairs.append((inner, dense))
        if rows:
            self._pairs.append((RowWiseAdagrad([{"params": g["params"]} for g in rows], eps=options.table_eps), rows))
        self._table_scale = options.table_lr_scale
        self._clip = options.grad_clip_norm
        self._dense = [p for g in dense if not g.get("sparse") for p in g["params"]]

    @torch.no_grad()
    def step(self, closure: Any = None) -> None:  # type: ignore[override]
        if self._clip is not None:  # the dense gradients' global L2 norm, as torch.nn.utils.clip_grad_norm_
            torch.nn.utils.clip_grad_norm_([p for p in self._dense if p.grad is not None], self._clip)
        for inner, groups in self._pairs:
            for inner_group, group in zip(inner.param_groups, groups):
                inner_group["lr"] = group["lr"] * (self._table_scale if group.get("sparse") else 1.0)
            inner.step()

    def state_dict(self) -> dict[str, Any]:  # type: ignore[override]
        return {"inner": [inner.state_dict() for inner, _ in self._pairs]}

    def load_state_dict(self, state: dict[str, Any]) -> None:  # type: ignore[override]
        for (inner, _), s in zip(self._pairs, state["inner"]):
            inner.load_state_dict(s)


class AdamPlugin:
    """The ``adam`` optimizer's builder."""

    def __init__(self, ctx: Any) -> None:
        self.options = ctx.options

    def build(self, groups: list[dict[str, Any]]) -> torch.optim.Optimizer:
        return _AdamTables([g for g in groups if g["params"]], self.options)


class HSTUVerification:
    """The family's ``verify`` rows as the ``verify`` command reads them (``ok``, ``render``, ``document``)."""

    def __init__(self, rows: list[Any]) -> None:
        self.rows = rows

    @property
    def ok(self) -> bool:
        return all(r.passed or r.skipped is not None for r in self.rows)

    def render(self, console: Any = None) -> None:
        from rich.console import Console
        from rich.table import Table

        from dlrmbench.report.fit import print_table

        table = Table(title="hstu: attention backends, float32 vs float64 (forward and one optimizer step)")
        for col in ("backend", "quantity", "max |diff|", "tolerance", "verdict"):
            table.add_column(col, no_wrap=True)
        for r in self.rows:
            diff = "" if r.max_abs_diff is None else f"{r.max_abs_diff:.2e}"
            verdict = f"skipped: {r.skipped}" if r.skipped else ("ok" if r.passed else "FAILED")
            table.add_row(r.backend, r.quantity, diff, f"{r.tolerance:.0e}", verdict)
        print_table(console or Console(), table)

    def document(self) -> str:
        import json

        return json.dumps([{"name": f"hstu {r.backend} {r.quantity}", "ok": r.passed, "skipped": r.skipped,
                            "max_abs_diff": r.max_abs_diff, "tolerance": r.tolerance} for r in self.rows], indent=1)


def family_rows(device: str, precision: str, steps: int) -> HSTUVerification:
    """``PluginSpec.verify`` of the hstu family: every attention backend against float64 (fp32 only).

    Another precision is one skipped row saying so, not an fp32 check passed off as that precision's.
    """
    from dlrmbench_plugins.families.hstu.verify import VerifyRow, verify_backends, verify_ranking

    if precision != "fp32":
        return HSTUVerification([VerifyRow("all", "-", None, 0.0,
                                           skipped=f"precision {precision}: hstu verify checks fp32 against float64 only")])
    return HSTUVerification(verify_backends(device=device) + verify_ranking(device=device))
