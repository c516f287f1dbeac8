"""Turn a resolved case into live objects: dataset, embedding strategy, backend, interaction, model.

Every plugin is built the same way: its factory called with one :class:`BuildContext` holding the
case, the plugin's options, the table sizes and the device. Everything comes from the case's
:class:`~dlrmbench.resolved.ResolvedCase`: in a worker, the one read from its case file (no plugin
registry, no option validation); for an in-process caller that passes a bare :class:`Case` (tests,
``verify``, ``export``), the case is resolved once against the registry by :func:`resolved_for`,
with the planner's own function.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import torch

from dlrmbench.config.schema import Case
from dlrmbench.errors import UserError
from dlrmbench.model.dlrm import build_dlrm
from dlrmbench.plugin_api import KINDS, BuildContext, PluginKind
from dlrmbench.resolved import ResolvedCase, resolve_case


@dataclass
class Workload:
    """Everything one case runs with."""

    case: Case
    device: torch.device
    dataset: Any
    model: torch.nn.Module
    table_sizes: list[int]


_resolved: list[tuple[Case, ResolvedCase]] = []  # (the Case callers pass, its resolved case)


def resolved_for(case: "Case | ResolvedCase") -> ResolvedCase:
    """The resolved case of ``case``: itself when resolved (and remembered, so that later calls with its
    ``.case`` find it), else the one remembered for this very Case object, else resolved now against
    the process's registry (options validated once, by :func:`dlrmbench.resolved.resolve_plugins`)."""
    if isinstance(case, ResolvedCase):
        key, found = case.case, case
    else:
        key = case
        found = next((r for c, r in _resolved if c is case or r.case is case), None)
        if found is None:
            from dlrmbench.plugins import get_registry

            found = resolve_case(case, get_registry())[0]
    if not any(c is key and r is found for c, r in _resolved):
        _resolved[:] = [(key, found), *_resolved[:7]]  # a worker runs one case; in-process callers a few
    return found


def plugin_options(case: "Case | ResolvedCase") -> dict[PluginKind, Any]:
    """Every plugin's Options instance for ``case`` (constructed from the resolved case, not re-validated)."""
    resolved = resolved_for(case)
    return {kind: resolved.options(kind) for kind in KINDS}


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


def open_dataset(case: "Case | ResolvedCase", device: torch.device, rank: int = 0, world_size: int = 1) -> Any:
    """The case's dataset plugin, built (its files are opened by the plugin)."""
    resolved = resolved_for(case)
    plugin, case = resolved.plugins["dataset"], resolved.case
    sizes = tuple(case.model.table_sizes) if case.model.table_sizes else None
    return plugin.build(BuildContext(case, plugin.options_object(), sizes, str(device), rank, world_size))


class CaseData(NamedTuple):
    """A process's start of every workload: the resolved case, its device, its (rank's) dataset, the table sizes."""

    resolved: ResolvedCase
    device: torch.device
    dataset: Any
    table_sizes: list[int]


def open_case_data(case: "Case | ResolvedCase", local_rank: int = 0, rank: int = 0, world_size: int = 1) -> CaseData:
    """Resolve ``case``, pick its device, seed torch with the case's seed (so that every topology's model
    starts from the same weights), open this rank's dataset and resolve the table sizes."""
    resolved = resolved_for(case)
    device = case_device(resolved.case, local_rank)
    torch.manual_seed(resolved.case.seed)
    dataset = open_dataset(resolved, device, rank, world_size)
    return CaseData(resolved, device, dataset, resolve_table_sizes(resolved.case, dataset))


def build_workload(case: "Case | ResolvedCase", local_rank: int = 0) -> Workload:
    """Open the dataset and build the model of ``case`` on its device, seeded (or from its checkpoint)."""
    resolved, device, dataset, table_sizes = open_case_data(case, local_rank)
    case = resolved.case
    model = build_model(resolved, table_sizes)
    if case.checkpoint is not None and case.checkpoint.load is not None:
        from dlrmbench.workload.checkpoint import load_checkpoint, resolve_path

        load_checkpoint(model, resolve_path(case.checkpoint.load, case), case, table_sizes)
    model = model.to(device)
    if getattr(dataset, "ids_validated", False):  # checked once in the data layer, not again every step
        model.embeddings.check_every_batch = False
    return Workload(case=case, device=device, dataset=dataset, model=model, table_sizes=table_sizes)


def build_embeddings(case: "Case | ResolvedCase", table_sizes: list[int], options: Any = None) -> Any:
    """The case's embedding strategy over ``table_sizes`` (a rank's tables in a hybrid-parallel run)."""
    resolved = resolved_for(case)
    plugin = resolved.plugins["embedding"]
    options = options if options is not None else plugin.options_object()
    return plugin.build(BuildContext(resolved.case, options, tuple(table_sizes)))


def build_model(case: "Case | ResolvedCase", table_sizes: list[int]) -> torch.nn.Module:
    """The case's DLRM on the CPU, from its backend, embedding and interaction plugins, seeded."""
    resolved = resolved_for(case)
    plugins, options, case = resolved.plugins, plugin_options(resolved), resolved.case
    base = BuildContext(case, None, tuple(table_sizes))
    backend = plugins["backend"].build(base.with_plugin(options["backend"]))
    embeddings = plugins["embedding"].build(base.with_plugin(options["embedding"]))
    interaction_ctx = base.with_plugin(options["interaction"])
    interaction = backend.interaction(interaction_ctx) or plugins["interaction"].build(interaction_ctx)
    return build_dlrm(
        backend,
        embeddings,
        num_numerical=case.model.num_numerical,
        bottom_sizes=list(case.model.bottom_mlp),
        top_sizes=list(case.model.top_mlp),
        interaction=interaction,
        seed=case.seed,
        mlp_init="nvidia" if case.model.mlp_init == "auto" else case.model.mlp_init,  # auto: resolved before
    )


def build_optimizer(case: "Case | ResolvedCase", groups: list[dict[str, Any]]) -> torch.optim.Optimizer:
    """The case's optimizer plugin over ``groups`` (each with ``params``, ``sparse``, ``lr_scale``)."""
    resolved = resolved_for(case)
    plugin = resolved.plugins["optimizer"]
    return plugin.build(BuildContext(resolved.case, plugin.options_object(), None)).build(groups)


def optimizer_state_bytes_per_parameter(case: "Case | ResolvedCase") -> float:
    """State bytes per parameter element of the case's optimizer plugin (from the resolved case)."""
    return resolved_for(case).optimizer_state_bytes_per_parameter
