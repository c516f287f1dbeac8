"""The HSTU family's optimizers: dense Adam/AdamW (torch's) and FBGEMM-style row-wise Adagrad for the item table.

Research HSTU: one AdamW over everything, the item table included (GR ``research/trainer/train.py``). DLRMv3:
Adam for the dense weights and RowWiseAdagrad for the tables (``dlrm_v3/train/gin/*.gin``). Row-wise Adagrad keeps
one accumulator per row: ``state[r] += mean(g[r]^2)``; ``w[r] -= lr * g[r] / (sqrt(state[r]) + eps)``, only for the
rows the batch touched (FBGEMM's sparse update; torchrec ``optim/rowwise_adagrad.py`` is the dense equivalent).
"""

from __future__ import annotations

import torch
from torch import nn

from dlrmbench_plugins.families.hstu.config import HSTUOptimizerConfig


class RowWiseAdagrad(torch.optim.Optimizer):
    """Row-wise Adagrad on 2-D weights; sparse gradients update only their rows (duplicates summed first)."""

    def __init__(self, params, lr: float = 1e-3, eps: float = 1e-8) -> None:
        super().__init__(params, dict(lr=lr, eps=eps))

    @torch.no_grad()
    def step(self, closure=None):  # type: ignore[override]
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "sum" not in state:
                    state["sum"] = torch.zeros(p.shape[0], dtype=torch.float32, device=p.device)
                if p.grad.is_sparse:
                    g = p.grad.coalesce()
                    rows, values = g.indices()[0], g.values()
                else:
                    rows = torch.nonzero(p.grad.abs().sum(1)).reshape(-1)
                    values = p.grad[rows]
                acc = state["sum"].index_add_(0, rows, values.float().pow(2).mean(1))[rows]
                p.index_add_(0, rows, (-group["lr"] * values / (acc.sqrt() + group["eps"]).unsqueeze(1)).to(p.dtype))
        return None


def build_optimizers(model: nn.Module, cfg: HSTUOptimizerConfig, table: nn.Embedding) -> list[torch.optim.Optimizer]:
    """The dense optimizer (and the table's own when ``cfg.embedding`` is ``rowwise_adagrad``)."""
    cls = torch.optim.AdamW if cfg.name == "adamw" else torch.optim.Adam
    if cfg.embedding == "dense":
        return [cls(model.parameters(), lr=cfg.lr, betas=cfg.betas, eps=cfg.eps, weight_decay=cfg.weight_decay)]
    dense = [p for p in model.parameters() if p is not table.weight]
    return [cls(dense, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps, weight_decay=cfg.weight_decay),
            RowWiseAdagrad([table.weight], lr=cfg.embedding_lr, eps=cfg.embedding_eps)]
