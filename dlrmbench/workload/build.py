"""Turn a resolved case into live objects: dataset, embedding strategy, backend, interaction, model.

Every plugin is built the same way: its spec's factory called with one :class:`BuildContext`
holding the case, the plugin's options (validated once, by :func:`plugin_options`), the table sizes
and the device.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from dlrmbench.config.schema import Case
from dlrmbench.errors import UserError
from dlrmbench.model.dlrm import build_dlrm
from dlrmbench.plugin_api import KINDS, BuildContext, PluginKind, PluginSpec
from dlrmbench.plugins import get_registry


@dataclass
class Workload:
    """Everything one case runs with."""

    case: Case
    device: torch.device
    dataset: Any
    model: torch.nn.Module
    table_sizes: list[int]


def plugin_specs(case: Case) -> dict[PluginKind, PluginSpec]:
    """The spec of each plugin the case names (a UserError names an unknown one)."""
    registry = get_registry()
    return {kind: registry.get(kind, case.plugin(kind)[0]) for kind in KINDS}


_parsed: list[tuple[Case, dict[PluginKind, Any]]] = []


def plugin_options(case: Case) -> dict[PluginKind, Any]:
    """Every plugin's Options instance for ``case``, parsed once per process (the planner validated them and
    wrote them out in full; this turns the worker's JSON back into the plugins' objects)."""
    for seen, options in _parsed:
        if seen is case:
            return options
    options = {kind: spec.options.model_validate(case.plugin(kind)[1]) for kind, spec in plugin_specs(case).items()}
    _parsed[:] = [(case, options)]  # one case per worker process: keep the last only
    return options


def resolve_table_sizes(case: Case, dataset: Any) -> list[int]:
    """Table sizes from the case's model, else the dataset; clipped by ``max_table_size``."""
    sizes = case.model.table_sizes or dataset.table_sizes()
    if not sizes:
        raise UserError(
            f"case {case.name}: no table sizes: set model.table_sizes or use a dataset that provides them"
        )
    if case.model.max_table_size is not None:
        sizes = [min(s, case.model.max_table_size) for s in sizes]
    return list(sizes)


def case_device(case: Case, local_rank: int = 0) -> torch.device:
    from dlrmbench.devices import device_of

    return torch.device(device_of(case.device).torch_device(local_rank))


def open_dataset(case: Case, device: torch.device, rank: int = 0, world_size: int = 1) -> Any:
    """The case's dataset plugin, built (its files are opened by the plugin)."""
    spec = plugin_specs(case)["dataset"]
    sizes = tuple(case.model.table_sizes) if case.model.table_sizes else None
    return spec.build(BuildContext(case, plugin_options(case)["dataset"], sizes, str(device), rank, world_size))


def build_workload(case: Case, local_rank: int = 0) -> Workload:
    """Open the dataset and build the model of ``case`` on its device, seeded (or from its checkpoint)."""
    device = case_device(case, local_rank)
    torch.manual_seed(case.seed)
    dataset = open_dataset(case, device)
    table_sizes = resolve_table_sizes(case, dataset)
    model = build_model(case, table_sizes)
    if case.checkpoint is not None and case.checkpoint.load is not None:
        from dlrmbench.workload.checkpoint import load_checkpoint, resolve_path

        load_checkpoint(model, resolve_path(case.checkpoint.load, case), case, table_sizes)
    model = model.to(device)
    if getattr(dataset, "ids_validated", False):  # checked once in the data layer, not again every step
        model.embeddings.check_every_batch = False
    return Workload(case=case, device=device, dataset=dataset, model=model, table_sizes=table_sizes)


def build_embeddings(case: Case, table_sizes: list[int], options: Any = None) -> Any:
    """The case's embedding strategy over ``table_sizes`` (a rank's tables in a hybrid-parallel run)."""
    spec = plugin_specs(case)["embedding"]
    options = options if options is not None else plugin_options(case)["embedding"]
    return spec.build(BuildContext(case, options, tuple(table_sizes)))


def build_model(case: Case, table_sizes: list[int]) -> torch.nn.Module:
    """The case's DLRM on the CPU, from its backend, embedding and interaction plugins, seeded."""
    specs, options = plugin_specs(case), plugin_options(case)
    base = BuildContext(case, None, tuple(table_sizes))
    backend = specs["backend"].build(base.with_plugin(options["backend"]))
    embeddings = specs["embedding"].build(base.with_plugin(options["embedding"]))
    interaction_ctx = base.with_plugin(options["interaction"])
    interaction = backend.interaction(interaction_ctx) or specs["interaction"].build(interaction_ctx)
    return build_dlrm(
        backend,
        embeddings,
        num_numerical=case.model.num_numerical,
        bottom_sizes=list(case.model.bottom_mlp),
        top_sizes=list(case.model.top_mlp),
        interaction=interaction,
        seed=case.seed,
    )


def build_optimizer(case: Case, groups: list[dict[str, Any]]) -> torch.optim.Optimizer:
    """The case's optimizer plugin over ``groups`` (each with ``params``, ``sparse``, ``lr_scale``)."""
    spec = plugin_specs(case)["optimizer"]
    plugin = spec.build(BuildContext(case, plugin_options(case)["optimizer"], None))
    return plugin.build(groups)
