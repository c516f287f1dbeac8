"""The ``eager`` backend: plain PyTorch (nn.Linear MLPs, batched-matmul interaction)."""

from __future__ import annotations

from typing import Any, Callable

from dlrmbench import hookimpl
from dlrmbench.plugin_api import BuildContext, PluginOptions, PluginSpec


class EagerOptions(PluginOptions):
    """The eager backend has no options."""


class EagerBackend:
    """Builds the model's dense parts from stock PyTorch modules."""

    def __init__(self, options: EagerOptions | None = None) -> None:
        self.options = options or EagerOptions()

    def mlp(self, in_features: int, sizes: list[int]) -> Any:
        from dlrmbench.model.mlp import TorchMlp

        return TorchMlp(in_features, sizes)

    def interaction(self, ctx: BuildContext) -> Any:
        return None  # the interaction plugin's module

    def finalize(self, model: Any) -> Any:
        return model


def build(ctx: BuildContext) -> EagerBackend:
    return EagerBackend(ctx.options)


@hookimpl
def register_backends(register: Callable[[PluginSpec], None]) -> None:
    register(
        PluginSpec(
            kind="backend",
            name="eager",
            summary="plain PyTorch: nn.Linear MLPs and a batched-matmul dot interaction",
            factory="dlrmbench_plugins.backends.eager:build",
            options=EagerOptions,
        )
    )
