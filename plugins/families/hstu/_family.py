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
from dlrmbench_plugins.families.hstu.config import HSTUModelConfig
from dlrmbench_plugins.families.hstu.jagged import SequenceBatch
from dlrmbench_plugins.families.hstu.metrics import retrieval_metrics
from dlrmbench_plugins.families.hstu.model import HSTURetrieval, retrieval_ranks, sample_negatives
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
    """The family object the core asks (see docs/families.md)."""

    def __init__(self, config: Any) -> None:
        self.config = config

    def build_model(self, ctx: Any, build: Any) -> nn.Module:
        torch.manual_seed(ctx.case.seed)
        opt = ctx.case.optimizer
        sparse = opt.name == "adam" and (opt.options or {}).get("tables") == "rowwise_adagrad"
        return HSTUWorkloadModel(self.config, "cpu", sparse)  # an HSTUConfig is an HSTUModelConfig

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


def build_family(ctx: Any) -> HSTUFamily:
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

    @torch.no_grad()
    def step(self, closure: Any = None) -> None:  # type: ignore[override]
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
    from dlrmbench_plugins.families.hstu.verify import VerifyRow, verify_backends

    if precision != "fp32":
        return HSTUVerification([VerifyRow("all", "-", None, 0.0,
                                           skipped=f"precision {precision}: hstu verify checks fp32 against float64 only")])
    return HSTUVerification(verify_backends(device=device))
