"""The ``adagrad`` optimizer's builder (imports torch)."""

from __future__ import annotations

import torch

from dlrmbench.model.adagrad import GroupedAdagrad
from dlrmbench.plugin_api import BuildContext, ParameterGroup


class AdagradPlugin:
    """One :class:`GroupedAdagrad` over every group (sparse groups: exact row-sparse updates)."""

    def __init__(self, ctx: BuildContext) -> None:
        self.options = ctx.options

    def build(self, groups: list[ParameterGroup]) -> torch.optim.Optimizer:
        return GroupedAdagrad([g for g in groups if g["params"]], eps=self.options.eps)
