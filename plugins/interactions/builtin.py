"""The ``dot`` and ``cat`` interactions of the reference (registration only; no torch here).

``dot``: pairwise dot products of the ``n = 1 + F`` vectors, the strict lower triangle, after the
bottom-MLP output, plus one zero of padding (width ``d + n(n-1)/2 + 1``). ``cat``: the ``n`` vectors
flattened (width ``n * d``). See :mod:`dlrmbench.model.interactions` and facts sheet 1.5.
"""

from __future__ import annotations

from typing import Any, Callable

from dlrmbench import hookimpl
from dlrmbench.plugin_api import PluginOptions, PluginSpec


class NoOptions(PluginOptions):
    """This interaction has no options."""


def dot_width(options: Any, num_vectors: int, dim: int) -> int:
    return dim + num_vectors * (num_vectors - 1) // 2 + 1


def cat_width(options: Any, num_vectors: int, dim: int) -> int:
    return num_vectors * dim


def dot_saved_bytes(options: Any, num_vectors: int, dim: int) -> int:
    """Per sample, what the dot interaction keeps for its backward: the stacked vectors, the Gram matrix and
    the gathered pairs (float32)."""
    n = num_vectors
    return (n * dim + n * n + n * (n - 1) // 2) * 4


@hookimpl
def register_interactions(register: Callable[[PluginSpec], None]) -> None:
    impl = "dlrmbench_plugins.interactions._builtin"
    register(PluginSpec(kind="interaction", name="dot", options=NoOptions, output_width=dot_width,
                        saved_bytes=dot_saved_bytes, families=("dlrm",),
                        summary="pairwise dot products (strict lower triangle) + bottom output + 1 pad (reference)",
                        factory=f"{impl}:build_dot"))
    register(PluginSpec(kind="interaction", name="cat", options=NoOptions, output_width=cat_width,
                        families=("dlrm",),
                        summary="the bottom output and the embeddings concatenated",
                        factory=f"{impl}:build_cat"))
