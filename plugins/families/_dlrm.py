"""The ``dlrm`` family's implementation (imports torch): assembly from plugins, BCE loss, AUC and log loss."""

from __future__ import annotations

from typing import Any

import torch
from torch.nn import functional

from dlrmbench.batch import Batch, ids_num_features
from dlrmbench.metrics.auc import NonFiniteScores, log_loss, roc_auc
from dlrmbench.model.dlrm import build_dlrm
from dlrmbench.plugin_api import BuildContext


class DlrmFamily:
    """DLRM over :class:`~dlrmbench.batch.Batch`: ``model(numerical, categorical) -> logits (B,)``."""

    def __init__(self, config: Any) -> None:
        self.config = config

    def build_model(self, ctx: BuildContext, build: Any) -> torch.nn.Module:
        backend = build("backend")
        embeddings = build("embedding")
        interaction = backend.interaction(build.context("interaction")) or build("interaction")
        config = ctx.case.model
        return build_dlrm(backend, embeddings, num_numerical=config.num_numerical,
                          bottom_sizes=list(config.bottom_mlp), top_sizes=list(config.top_mlp),
                          interaction=interaction, seed=ctx.case.seed)

    def model_inputs(self, batch: Batch) -> tuple[Any, ...]:
        return batch.numerical, batch.categorical

    def target(self, batch: Batch) -> torch.Tensor:
        return batch.label

    def loss(self, outputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return functional.binary_cross_entropy_with_logits(outputs.float(), target)

    def eval_rows(self, outputs: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"logits": outputs.float(), "labels": target}

    def metrics(self, rows: dict[str, torch.Tensor]) -> dict[str, float]:
        """AUC (ties collapsed, facts sheet 2.4) and log loss; non-finite logits fail the evaluation (an AUC
        over NaN scores is a number, and a wrong one)."""
        logits, labels = rows["logits"], rows["labels"]
        bad = ~torch.isfinite(logits)
        if bool(bad.any()):
            raise NonFiniteScores(int(bad.sum()), logits.numel(), int(bad.reshape(-1).nonzero()[0]))
        # the positives scored go with the AUC so that every view can give its confidence interval
        return {"auc": roc_auc(logits, labels), "log_loss": log_loss(logits, labels),
                "positives": float((labels > 0.5).sum())}

    def check_batch(self, batch: Batch, table_sizes: list[int]) -> None:
        """Refuse data whose feature counts do not match the model, naming the fields to fix."""
        numerical = tuple(batch.numerical.shape)
        if len(numerical) != 2 or numerical[1] != self.config.num_numerical:
            raise ValueError(f"the dataset gives numerical features of shape {numerical} but model.num_numerical is "
                             f"{self.config.num_numerical}; make them agree")
        features = ids_num_features(batch.categorical)
        if features != len(table_sizes):
            if features < 0:
                shape = tuple(batch.categorical.shape)
                features = shape[-1] if shape else 0
            raise ValueError(f"the dataset gives {features} categorical features per sample "
                             f"but the model has {len(table_sizes)} tables (model.table_sizes); make them agree")


def build_family(ctx: BuildContext) -> DlrmFamily:
    return DlrmFamily(ctx.options)
