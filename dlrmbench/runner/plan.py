"""Planning: decide, before anything heavy is imported, which cases can run here and why not.

Each case becomes a :class:`PlannedCase`, the resolved case: every plugin's options validated (and
written back into the case in full, defaults included, so the worker reads explicit values), the
table sizes when known before the data is opened, the launcher, the ids per feature, and either
runnable or skipped with a human reason (no CUDA, too few GPUs, a precision the device cannot run, a
plugin that is unavailable for this case, multi-hot data for a one-hot strategy, a plan that does not
fit in memory).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError

from dlrmbench.config.capabilities import precision_unavailable
from dlrmbench.config.schema import Case
from dlrmbench.devices import device_of
from dlrmbench.errors import UserError
from dlrmbench.host import Host
from dlrmbench.plugin_api import KINDS, PluginKind, PluginSpec
from dlrmbench.plugins import Registry

Launcher = Literal["process", "torchrun"]


@dataclass
class PlannedCase:
    """One resolved case: what the worker receives, or why it is skipped."""

    case: Case
    skip_reason: str | None = None
    options: dict[PluginKind, Any] = field(default_factory=dict)
    table_sizes: list[int] | None = None
    hotness: list[int] | None = None
    launcher: Launcher = "process"

    @property
    def runnable(self) -> bool:
        return self.skip_reason is None


def device_reason(case: Case, host: Host) -> str | None:
    """Why the case's device, device count or precision is not available here (the device table's probes)."""
    device = device_of(case.device)
    why_not = device.unavailable(host)
    if why_not:
        return why_not
    count = device.count(host)
    if count is not None and case.world_size > count:
        return f"needs {case.world_size} GPUs; this machine has {count}"
    return precision_unavailable(case, device.compute_capability(host))


def resolve_plugins(case: Case, registry: Registry) -> tuple[dict[PluginKind, PluginSpec], dict[PluginKind, Any]]:
    """Every plugin's spec and validated options (a UserError names the case, the field and the problem)."""
    specs: dict[PluginKind, PluginSpec] = {}
    options: dict[PluginKind, Any] = {}
    where = {"interaction": "model.interaction", "optimizer": "optimizer"}
    for kind in KINDS:
        name, raw = case.plugin(kind)
        spec = registry.get(kind, name)
        try:
            options[kind] = spec.options.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(options)'}: {e['msg']}"
                                 for e in exc.errors())
            raise UserError(f"case {case.name}: {where.get(kind, kind)}.options of {kind} {name!r}: {problems}") from None
        specs[kind] = spec
    return specs, options


def plugin_reason(case: Case, host: Host, specs: dict[PluginKind, PluginSpec], options: dict[PluginKind, Any]
                  ) -> str | None:
    for kind in KINDS:
        reason = specs[kind].availability(host, case, options[kind])
        if reason:
            return f"{kind} {specs[kind].name}: {reason}"
    return None


def data_hotness(case: Case, spec: PluginSpec, options: Any) -> list[int] | None:
    """Ids per sample of each feature the dataset will yield, or None for one-hot data."""
    return spec.hotness(options, case) if spec.hotness is not None else None


def multi_hot_reason(case: Case, embedding: PluginSpec, hotness: list[int] | None) -> str | None:
    if hotness is not None and any(h != 1 for h in hotness) and not embedding.multi_hot:
        return (f"embedding {embedding.name}: multi-hot is not supported by this strategy (one id per feature; the "
                f"dataset gives up to {max(hotness)} ids per feature); use joint or multi_table")
    return None


def distributed_reason(case: Case, host: Host) -> str | None:
    """The memory planner's verdict (processes, memory): for every case, single-process ones too, so
    that ``dlrmbench plan`` (which shows every case's memory plan) and ``run`` agree."""
    from dlrmbench import distributed

    return distributed.planning_reason(case, host)


def select(cases: list[Case], only: tuple[str, ...]) -> list[Case]:
    """Cases whose name matches any glob in ``only`` (all when empty)."""
    if not only:
        return cases
    return [c for c in cases if any(fnmatch.fnmatchcase(c.name, p) or p in c.name for p in only)]


def _with_full_options(case: Case, options: dict[PluginKind, Any], dataset: PluginSpec) -> Case:
    """``case`` with every plugin's options as validated (defaults filled in) and the dataset's AUC
    property: what the worker reads and the result records."""
    data = case.model_dump()
    data["auc_comparable"] = dataset.auc_comparable
    for kind, value in options.items():
        dumped = value.model_dump(mode="json")
        if kind == "interaction":
            data["model"]["interaction"]["options"] = dumped
        elif kind == "optimizer":
            data["optimizer"]["options"] = dumped
        else:
            data[kind]["options"] = dumped
    return Case.model_validate(data)


def resolve(case: Case, host: Host, registry: Registry) -> PlannedCase:
    """The resolved case: validated plugins, known table sizes, launcher, and the first reason not to run."""
    specs, options = resolve_plugins(case, registry)
    dataset = specs["dataset"]
    sizes = case.model.table_sizes or (dataset.table_sizes(options["dataset"], case) if dataset.table_sizes else None)
    hotness = data_hotness(case, dataset, options["dataset"])
    reason = (
        device_reason(case, host)
        or plugin_reason(case, host, specs, options)
        or multi_hot_reason(case, specs["embedding"], hotness)
        or distributed_reason(case, host)
    )
    return PlannedCase(_with_full_options(case, options, dataset), reason, options,
                       list(sizes) if sizes else None, hotness, "torchrun" if case.world_size > 1 else "process")


def plan(cases: list[Case], host: Host, registry: Registry) -> list[PlannedCase]:
    """Resolve every case; the first reason found wins."""
    return [resolve(case, host, registry) for case in cases]
