"""Factories of the built-in interactions (imports torch)."""

from __future__ import annotations

from dlrmbench.model.interactions import CatInteraction, DotInteraction
from dlrmbench.plugin_api import BuildContext


def build_dot(ctx: BuildContext) -> DotInteraction:
    return DotInteraction(ctx.num_vectors, ctx.embedding_dim)


def build_cat(ctx: BuildContext) -> CatInteraction:
    return CatInteraction(ctx.num_vectors, ctx.embedding_dim)
