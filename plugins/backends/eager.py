"""The ``eager`` backend: plain PyTorch (nn.Linear MLPs, batched-matmul interaction)."""

from __future__ import annotations

from typing import Any, Callable

from dlrmbench import hookimpl
from dlrmbench.plugin_api import PluginOptions, PluginSpec


class EagerOptions(PluginOptions):
    """The eager backend has no options."""


class EagerBackend:
    """Builds the model's dense parts from stock PyTorch modules."""

    def __init__(self, options: EagerOptions | None = None) -> None:
        self.options = options or EagerOptions()

    def mlp(self, in_features: int, sizes: list[int]) -> Any:
        from dlrmbench.model.mlp import TorchMlp

        return TorchMlp(in_features, sizes)

    def interaction(self, kind: str, num_vectors: int, dim: int) -> Any:
        from dlrmbench.model.interactions import make_interaction

        return make_interaction(kind, num_vectors, dim)

    def finalize(self, model: Any) -> Any:
        return model


@hookimpl
def register_backends(register: Callable[[PluginSpec], None]) -> None:
    register(
        PluginSpec(
            kind="backend",
            name="eager",
            summary="plain PyTorch: nn.Linear MLPs and a batched-matmul dot interaction",
            factory="dlrmbench_plugins.backends.eager:EagerBackend",
            options=EagerOptions,
        )
    )
