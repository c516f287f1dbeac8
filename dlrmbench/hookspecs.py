"""The plugin hooks: every hook a dlrmbench plugin may implement (the types they exchange are in
:mod:`dlrmbench.plugin_api`).

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
def register_families(register: Callable[["PluginSpec"], None]) -> None:
    """Register workload families (``model.family`` in a suite; ``dlrm`` when a suite names none).

    Args:
        register: call it once per family with a ``PluginSpec`` of kind ``"family"``. Its ``options`` is the
            family's model configuration (a :class:`~dlrmbench.plugin_api.FamilyConfig`, validated where
            ``model:`` is written); it declares the model kinds it ``uses``, its ``metrics``,
            ``target_metric``, ``flops_per_sample``, ``memory_plan``, ``default_topology`` and ``verify``.
            Its factory is called as ``factory(ctx: BuildContext)`` and returns a
            :class:`~dlrmbench.plugin_api.WorkloadFamily`: ``build_model(ctx, build)``,
            ``model_inputs(batch)``, ``target(batch)``, ``loss(outputs, target)``,
            ``eval_rows(outputs, target)``, ``metrics(rows)`` and ``check_batch(batch, table_sizes)``.
    """


@hookspec
def register_topologies(register: Callable[["PluginSpec"], None]) -> None:
    """Register topologies: how the ranks of a multi-process case split the model and the data
    (``distributed.topology`` in a suite; the family's ``default_topology`` when it names none).

    Args:
        register: call it once per topology with a ``PluginSpec`` of kind ``"topology"`` (``families`` says
            which families it can run; ``check`` refuses a case it cannot, with the reason). Its factory is
            called as ``factory(ctx: BuildContext)`` and returns a :class:`~dlrmbench.plugin_api.TopologyRunner`
            whose ``run(resolved, reporter, rank, world_size, local_rank)`` runs one rank.
    """


@hookspec
def register_telemetry(register: Callable[["PluginSpec"], None]) -> None:
    """Register telemetry sources: what the sampler reads around every case (a GPU vendor's library, the host).

    Args:
        register: call it once per source with a ``PluginSpec`` of kind ``"telemetry"`` (``devices``: the
            device types it reads, None for the host). Its factory is called as ``factory(ctx: BuildContext)``
            and returns a :class:`~dlrmbench.plugin_api.TelemetrySource`: ``open(targets)`` gives a reader or
            the reason there is none.
    """


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
