"""The plugin contract: every hook a dlrmbench plugin may implement.

A plugin is a module (or package) with functions decorated by :data:`dlrmbench.hookimpl`,
exposed through the ``dlrmbench`` entry-point group. The built-in plugins in ``plugins/`` use
exactly this contract. Hooks are grouped by phase; none of them may do heavy work when the
plugin module is imported, and registration hooks must not import torch: put the heavy code in
the module named by a spec's ``factory`` string, which the worker imports only when a case runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import pluggy

if TYPE_CHECKING:
    import click

    from dlrmbench.plugin_api import BuildContext, PluginSpec  # noqa: F401 (named in the docs)

hookspec = pluggy.HookspecMarker("dlrmbench")

# --- Registration -----------------------------------------------------------------------------


@hookspec
def register_backends(register: Callable[["PluginSpec"], None]) -> None:
    """Register dense backends (MLPs; optionally an accelerated interaction).

    Args:
        register: call it once per backend with a :class:`~dlrmbench.plugin_api.PluginSpec` of kind
            ``"backend"``. Its factory is called as ``factory(ctx: BuildContext)`` and returns a
            :class:`~dlrmbench.plugin_api.DenseBackend`: ``mlp(in_features, sizes)``,
            ``interaction(ctx) -> nn.Module | None`` and ``finalize(model)``.
    """


@hookspec
def register_embeddings(register: Callable[["PluginSpec"], None]) -> None:
    """Register embedding strategies.

    Args:
        register: call it once per strategy with a ``PluginSpec`` of kind ``"embedding"``. Its factory
            is called as ``factory(ctx: BuildContext)`` (``ctx.table_sizes``, ``ctx.embedding_dim``,
            ``ctx.case.model.hash_indices``, ``ctx.options``) and returns an
            :class:`~dlrmbench.plugin_api.EmbeddingStrategy`: an ``nn.Module`` whose ``forward(ids)``
            maps ids (``(B, F)`` int64, or :class:`~dlrmbench.plugin_api.SparseFeatures` when the spec
            sets ``multi_hot``) to ``(B, F, D)`` vectors, with ``reset_parameters(generator)``,
            ``parameter_bytes()`` and ``set_learning_rate(lr)`` (used when ``applies_own_optimizer``).
    """


@hookspec
def register_interactions(register: Callable[["PluginSpec"], None]) -> None:
    """Register feature interactions (``model.interaction`` in a suite).

    Args:
        register: call it once per interaction with a ``PluginSpec`` of kind ``"interaction"``. Its
            factory is called as ``factory(ctx: BuildContext)`` (``ctx.num_vectors``,
            ``ctx.embedding_dim``, ``ctx.options``) and returns an
            :class:`~dlrmbench.plugin_api.Interaction`: an ``nn.Module`` with ``out_features`` whose
            ``forward(bottom, embedded)`` maps ``(B, D)`` and ``(B, F, D)`` to ``(B, out_features)``.
    """


@hookspec
def register_optimizers(register: Callable[["PluginSpec"], None]) -> None:
    """Register optimizers (``optimizer.name`` in a suite; the schedule stays the case's).

    Args:
        register: call it once per optimizer with a ``PluginSpec`` of kind ``"optimizer"``. Its factory
            is called as ``factory(ctx: BuildContext)`` and returns an
            :class:`~dlrmbench.plugin_api.OptimizerPlugin`: ``build(groups) -> torch.optim.Optimizer``
            over sparse (tables) and dense parameter groups.
    """


@hookspec
def register_datasets(register: Callable[["PluginSpec"], None]) -> None:
    """Register datasets (and the on-disk formats they read).

    Args:
        register: call it once per dataset with a ``PluginSpec`` of kind ``"dataset"``. Its factory is
            called as ``factory(ctx: BuildContext)`` and returns a
            :class:`~dlrmbench.plugin_api.Dataset`: ``table_sizes()`` and
            ``batches(split, batch_size, device)`` yielding :class:`~dlrmbench.plugin_api.Batch`.
            A spec with a ``format`` (:class:`~dlrmbench.plugin_api.DatasetFormat`) is found by
            ``--dataset-path`` and ``dlrmbench dataset inspect``.
    """


@hookspec
def register_commands(cli: "click.Group") -> None:
    """Add subcommands to the ``dlrmbench`` command group.

    Args:
        cli: the root click group; call ``cli.add_command(...)``.
    """


# --- Run --------------------------------------------------------------------------------------


@hookspec
def environment_info() -> dict[str, Any]:
    """Return extra facts merged into every result's environment fingerprint.

    Called once per run in the parent process. Keys must be JSON-serialisable.
    """
