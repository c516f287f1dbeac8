"""Turn a resolved case into live objects: the family, the dataset, the model and its optimizer.

Every plugin is built the same way: its factory called with one :class:`BuildContext` holding the
case, the plugin's options, the table sizes and the device, from the case's
:class:`~dlrmbench.resolved.ResolvedCase` (a worker's comes from its case file: no plugin registry, no
option validation). What a factory returns is checked against its kind's protocol at once, so that a
plugin missing a method the core calls is refused by name. In-process callers that hold a bare
:class:`Case` (tests, ``verify``, ``export``) resolve it first with :func:`resolve`, once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import torch

from dlrmbench.config.schema import Case
from dlrmbench.errors import UserError
from dlrmbench.plugin_api import (
    BuildContext, Dataset, DenseBackend, EmbeddingStrategy, Interaction, OptimizerPlugin, PluginKind,
    TelemetrySource, TopologyRunner, WorkloadFamily, missing_methods,
)
from dlrmbench.resolved import ResolvedCase, resolve_case

PROTOCOLS: dict[str, type] = {
    "family": WorkloadFamily, "backend": DenseBackend, "embedding": EmbeddingStrategy,
    "interaction": Interaction, "optimizer": OptimizerPlugin, "dataset": Dataset, "topology": TopologyRunner,
    "telemetry": TelemetrySource,
}
"""The interface each kind's factory must return (:mod:`dlrmbench.plugin_api`)."""


@dataclass
class Workload:
    """Everything one case runs with."""

    case: Case
    device: torch.device
    dataset: Any
    model: torch.nn.Module
    table_sizes: list[int]
    family: Any
    resolved: ResolvedCase


def resolve(case: Case) -> ResolvedCase:
    """``case`` resolved against this process's plugin registry (options validated once): for in-process
    callers that start from a bare case; the planner does this for every case it runs."""
    from dlrmbench.plugins import get_registry

    return resolve_case(case, get_registry())[0]


def checked(kind: PluginKind, name: str, built: Any) -> Any:
    """``built`` when it has every method of its kind's protocol, else a UserError naming what is missing."""
    missing = missing_methods(built, PROTOCOLS[kind])
    if missing:
        protocol = PROTOCOLS[kind].__name__
        raise UserError(f"{kind} {name}: its factory returned a {type(built).__name__} without "
                        f"{', '.join(missing)} (the core calls them; see dlrmbench.plugin_api.{protocol})")
    return built


class PluginBuilder:
    """Builds the case's plugins for one process (what a family's ``build_model`` receives as ``build``)."""

    def __init__(self, resolved: ResolvedCase, table_sizes: "list[int] | None", device: str = "cpu",
                 rank: int = 0, world_size: int = 1) -> None:
        self.resolved = resolved
        self.table_sizes = tuple(table_sizes) if table_sizes is not None else None
        self.device, self.rank, self.world_size = device, rank, world_size

    def context(self, kind: PluginKind, table_sizes: "list[int] | None" = None, options: Any = None) -> BuildContext:
        """The build context of the case's ``kind`` plugin (``table_sizes``: a rank's tables)."""
        plugin = self._plugin(kind)
        sizes = tuple(table_sizes) if table_sizes is not None else self.table_sizes
        return BuildContext(self.resolved.case, options if options is not None else plugin.options_object(),
                            sizes, self.device, self.rank, self.world_size)

    def __call__(self, kind: PluginKind, table_sizes: "list[int] | None" = None, options: Any = None) -> Any:
        """The case's ``kind`` plugin, built and checked against its protocol."""
        plugin = self._plugin(kind)
        return checked(kind, plugin.name, plugin.build(self.context(kind, table_sizes, options)))

    def _plugin(self, kind: PluginKind) -> Any:
        plugin = self.resolved.plugins.get(kind)
        if plugin is None:
            family = self.resolved.case.model.family
            raise UserError(f"family {family} builds a {kind} but does not declare it in its spec's `uses`; "
                            f"add {kind!r} to uses")
        return plugin


def case_device(case: Case, local_rank: int = 0) -> torch.device:
    from dlrmbench.devices import device_of

    return torch.device(device_of(case.device).torch_device(local_rank))


def resolve_table_sizes(resolved: ResolvedCase, dataset: Any) -> list[int]:
    """Table sizes from the model configuration or the planner, else the dataset; clipped by ``max_table_size``."""
    case = resolved.case
    sizes = getattr(case.model, "table_sizes", None) or resolved.table_sizes or dataset.table_sizes()
    if not sizes:
        raise UserError(
            f"case {case.name}: no table sizes: set model.table_sizes or use a dataset that provides them"
        )
    clip = getattr(case.model, "max_table_size", None)
    if clip is not None:
        sizes = [min(s, clip) for s in sizes]
    return list(sizes)


def open_dataset(resolved: ResolvedCase, device: torch.device, rank: int = 0, world_size: int = 1) -> Any:
    """The case's dataset plugin, built (its files are opened by the plugin)."""
    declared = getattr(resolved.case.model, "table_sizes", None)
    builder = PluginBuilder(resolved, declared, str(device), rank, world_size)
    return builder("dataset")


class CaseData(NamedTuple):
    """A process's start of every workload: the resolved case, its device, its (rank's) dataset, the table sizes."""

    resolved: ResolvedCase
    device: torch.device
    dataset: Any
    table_sizes: list[int]


def open_case_data(resolved: ResolvedCase, local_rank: int = 0, rank: int = 0, world_size: int = 1) -> CaseData:
    """Pick the case's device, seed torch with the case's seed (so that every topology's model starts from
    the same weights), open this rank's dataset and resolve the table sizes."""
    device = case_device(resolved.case, local_rank)
    torch.manual_seed(resolved.case.seed)
    dataset = open_dataset(resolved, device, rank, world_size)
    return CaseData(resolved, device, dataset, resolve_table_sizes(resolved, dataset))


def build_family(resolved: ResolvedCase, table_sizes: "list[int] | None" = None) -> Any:
    """The case's workload family object (its factory's, checked against :class:`WorkloadFamily`)."""
    return PluginBuilder(resolved, table_sizes)("family")


def build_model(resolved: ResolvedCase, table_sizes: list[int], family: Any = None) -> torch.nn.Module:
    """The case's model on the CPU, built by its family from the plugins it uses, seeded."""
    builder = PluginBuilder(resolved, table_sizes)
    family = family if family is not None else builder("family")
    return family.build_model(builder.context("family"), builder)


def build_workload(resolved: ResolvedCase, local_rank: int = 0) -> Workload:
    """Open the dataset and build the model of the case on its device, seeded (or from its checkpoint)."""
    if not isinstance(resolved, ResolvedCase):
        raise TypeError("build_workload takes a ResolvedCase: resolve a bare Case with dlrmbench.workload.build.resolve")
    resolved, device, dataset, table_sizes = open_case_data(resolved, local_rank)
    case = resolved.case
    family = build_family(resolved, table_sizes)
    model = build_model(resolved, table_sizes, family)
    if case.checkpoint is not None and case.checkpoint.load is not None:
        from dlrmbench.config.paths import case_path
        from dlrmbench.workload.checkpoint import load_checkpoint

        load_checkpoint(model, case_path(case.checkpoint.load, case), case, table_sizes)
    model = model.to(device)
    embeddings = getattr(model, "embeddings", None)
    if getattr(dataset, "ids_validated", False) and embeddings is not None:
        embeddings.check_every_batch = False  # checked once in the data layer, not again every step
    return Workload(case=case, device=device, dataset=dataset, model=model, table_sizes=table_sizes,
                    family=family, resolved=resolved)


def workload_over(resolved: ResolvedCase, dataset: Any, table_sizes: list[int]) -> Workload:
    """The case's family and model (on the CPU, seeded) over a dataset the caller already holds (tests and
    benchmarks with data in memory)."""
    family = build_family(resolved, table_sizes)
    return Workload(case=resolved.case, device=torch.device("cpu"), dataset=dataset,
                    model=build_model(resolved, table_sizes, family), table_sizes=list(table_sizes), family=family,
                    resolved=resolved)


def build_embeddings(resolved: ResolvedCase, table_sizes: list[int], options: Any = None) -> Any:
    """The case's embedding strategy over ``table_sizes`` (a rank's tables in a hybrid-parallel run)."""
    return PluginBuilder(resolved, table_sizes)("embedding", table_sizes, options)


def build_optimizer(resolved: ResolvedCase, groups: list[dict[str, Any]]) -> torch.optim.Optimizer:
    """The case's optimizer plugin over ``groups`` (each with ``params``, ``sparse``, ``lr_scale``)."""
    return PluginBuilder(resolved, None)("optimizer").build(groups)
