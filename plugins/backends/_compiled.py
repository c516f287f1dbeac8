"""Implementation of the ``compiled`` backend (imports torch).

The embeddings stay eager (their sparse gradients are outside what torch.compile handles); the
dense parts (bottom MLP, interaction, top MLP, output layer) are compiled as one graph, so inductor
can fuse across their boundaries. The model stays a :class:`Dlrm` with the same modules and
parameters, so initialisation and parameter order are the eager backend's.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from dlrmbench.model.dlrm import Dlrm
from dlrmbench.plugin_api import BuildContext
from dlrmbench.model.mlp import TorchMlp
from dlrmbench_plugins.backends.compiled import CompiledOptions


class CompiledDlrm(Dlrm):
    """A Dlrm whose dense computation runs through ``torch.compile``."""

    _compiled_dense: Any

    def dense(self, numerical: torch.Tensor, embedded: torch.Tensor) -> torch.Tensor:
        bottom = self.bottom_mlp(numerical)
        return self.out(self.top_mlp(self.interaction(bottom, embedded))).squeeze(1)

    def forward(self, numerical: torch.Tensor, categorical: torch.Tensor) -> torch.Tensor:
        return self._compiled_dense(numerical, self.embeddings(categorical))


class CompiledBackend:
    """Eager parts, compiled together in :meth:`finalize`."""

    def __init__(self, options: CompiledOptions | None = None) -> None:
        self.options = options or CompiledOptions()

    def mlp(self, in_features: int, sizes: list[int]) -> nn.Module:
        return TorchMlp(in_features, sizes)

    def interaction(self, ctx: BuildContext) -> nn.Module | None:
        return None  # the interaction plugin's module

    def finalize(self, model: nn.Module) -> nn.Module:
        if not isinstance(model, Dlrm):
            raise TypeError(f"the compiled backend expects a Dlrm, got {type(model).__name__}")
        model.__class__ = CompiledDlrm
        opts = self.options
        compiled = torch.compile(
            model.dense, backend=opts.compiler, mode=None if opts.mode == "default" or opts.compiler != "inductor" else opts.mode,
            dynamic=opts.dynamic,
        )
        object.__setattr__(model, "_compiled_dense", compiled)  # a function, not a submodule
        return model


def build(ctx: BuildContext) -> CompiledBackend:
    return CompiledBackend(ctx.options)
