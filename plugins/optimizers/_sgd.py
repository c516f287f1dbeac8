"""The ``sgd`` optimizer's builder (imports torch)."""

from __future__ import annotations

import torch

from dlrmbench.plugin_api import BuildContext, ParameterGroup


class SgdPlugin:
    """One ``torch.optim.SGD`` over every group (dense and sparse alike)."""

    def __init__(self, ctx: BuildContext) -> None:
        self.options = ctx.options

    def build(self, groups: list[ParameterGroup]) -> torch.optim.Optimizer:
        return torch.optim.SGD([g for g in groups if g["params"]], lr=0.0)
