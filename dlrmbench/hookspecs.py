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

    from dlrmbench.plugin_api import PluginSpec

hookspec = pluggy.HookspecMarker("dlrmbench")

# --- Registration -----------------------------------------------------------------------------


@hookspec
def register_backends(register: Callable[["PluginSpec"], None]) -> None:
    """Register compute backends (MLP and interaction implementations).

    Args:
        register: call it once per backend with a :class:`dlrmbench.plugin_api.PluginSpec` whose
            ``kind`` is ``"backend"``. Its ``factory`` names a callable ``factory(options)`` that
            returns an object with ``mlp(in_features, sizes, relu_last)``,
            ``interaction(kind, num_vectors, dim)`` and ``finalize(model, case)`` (see
            :mod:`dlrmbench.model.parts`).
    """


@hookspec
def register_embeddings(register: Callable[["PluginSpec"], None]) -> None:
    """Register embedding strategies.

    Args:
        register: call it once per strategy with a ``PluginSpec`` of kind ``"embedding"``. Its
            factory returns an ``nn.Module`` given ``(table_sizes, dim, options, hash_indices)``;
            the module maps categorical ids ``(B, F)`` int64 to vectors ``(B, F, D)``.
    """


@hookspec
def register_datasets(register: Callable[["PluginSpec"], None]) -> None:
    """Register datasets.

    Args:
        register: call it once per dataset with a ``PluginSpec`` of kind ``"dataset"``. Its
            factory returns an object with ``table_sizes()`` and
            ``batches(split, batch_size, device)`` (see :mod:`dlrmbench.workload.data`).
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
