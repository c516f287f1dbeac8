"""The ``joint`` and ``multi_table`` embedding strategies (plain nn.Embedding, sparse gradients)."""

from __future__ import annotations

from typing import Callable

from dlrmbench import hookimpl
from dlrmbench.plugin_api import PluginOptions, PluginSpec


class NoOptions(PluginOptions):
    """This strategy has no options."""


def _impl(name: str) -> str:
    return f"dlrmbench_plugins.embeddings._tables:{name}"


@hookimpl
def register_embeddings(register: Callable[[PluginSpec], None]) -> None:
    register(
        PluginSpec(
            kind="embedding",
            name="joint",
            summary="one nn.Embedding for all features with per-feature offsets (sparse gradients)",
            factory=_impl("build_joint"),
            options=NoOptions,
            multi_hot=True,
        )
    )
    register(
        PluginSpec(
            kind="embedding",
            name="multi_table",
            summary="one nn.Embedding per categorical feature (sparse gradients)",
            factory=_impl("build_multi_table"),
            options=NoOptions,
            multi_hot=True,
        )
    )
