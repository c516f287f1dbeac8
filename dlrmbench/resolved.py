"""The resolved case: what the planner decided about one case, as the one object a worker receives.

The planner (:mod:`dlrmbench.runner.plan`) resolves each case against the plugin registry once:
every plugin's options are validated by :func:`resolve_plugins` (THE single place plugin options are
validated) and written out in full, the table sizes and ids per feature are read from the dataset
plugin when they are known before the data is opened, and the launcher is chosen. The result is a
:class:`ResolvedCase`, plain data that ``runner/isolate.py`` (and ``dlrmbench plan --case-files``)
writes as JSON to the worker's case file.

The worker and every torchrun rank read that file back with :func:`read_resolved_case` and never build
the plugin registry: each plugin carries its factory and its options model as ``"module:attr"``
strings, imported directly, and its options are rebuilt with ``model_construct`` (no validation: the
values were validated by the planner and written by it).

Light: pydantic and the standard library only (no torch, no registry at import time).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from dlrmbench.config.schema import Case
from dlrmbench.errors import UserError
from dlrmbench.plugin_api import ALWAYS_USED, KINDS, MODEL_KINDS, BuildContext, FamilyMetric, PluginKind, PluginSpec

if TYPE_CHECKING:
    from dlrmbench.plugins import Registry

SCHEMA = "dlrmbench.resolved_case/1"
Launcher = Literal["process", "torchrun"]


def import_object(path: str) -> Any:
    """The object named by ``"module:qualname"`` (a nested qualname such as ``Outer.Inner`` works)."""
    module_name, _, attr = path.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in filter(None, attr.split(".")):
        obj = getattr(obj, part)
    return obj


def object_path(obj: Any) -> str | None:
    """``"module:qualname"`` of a module-level class or function, or None when it cannot be imported by
    that name (a lambda, a local function)."""
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", "")
    if not module or not qualname or "<" in qualname:
        return None
    path = f"{module}:{qualname}"
    try:
        return path if import_object(path) is obj else None
    except (ImportError, AttributeError):
        return None


def construct_options(model: type[BaseModel], data: dict[str, Any]) -> BaseModel:
    """``model`` built from already-validated ``data`` without validating it again (nested option models
    are constructed the same way)."""
    values: dict[str, Any] = {}
    for name, value in data.items():
        field = model.model_fields.get(name)
        annotation = field.annotation if field is not None else None
        if isinstance(value, dict) and isinstance(annotation, type) and issubclass(annotation, BaseModel):
            value = construct_options(annotation, value)
        elif isinstance(value, (list, tuple)) and get_origin(annotation) in (list, tuple):
            item = get_args(annotation)[0] if get_args(annotation) else None
            if isinstance(item, type) and issubclass(item, BaseModel):  # a list (or tuple) of option models
                value = get_origin(annotation)(construct_options(item, v) if isinstance(v, dict) else v
                                               for v in value)
            elif get_origin(annotation) is tuple:
                value = tuple(value)
        values[name] = value
    return model.model_construct(**values)


class ResolvedPlugin(BaseModel):
    """One plugin of a resolved case: its name, where its factory and options model live, and its
    options as validated by the planner (every field, defaults included, as JSON data)."""

    model_config = ConfigDict(extra="forbid")

    kind: PluginKind
    name: str
    factory: str
    options_model: str
    options: dict[str, Any]

    def options_object(self) -> BaseModel:
        """The plugin's Options instance, constructed without re-validation."""
        return construct_options(import_object(self.options_model), self.options)

    def build(self, ctx: BuildContext) -> Any:
        """Import the factory and call it with ``ctx`` (as :meth:`PluginSpec.build` does)."""
        return import_object(self.factory)(ctx)


class ResolvedCase(BaseModel):
    """The planner's answer for one case, serialisable: what a worker (or a rank) receives.

    Attributes:
        case: the case, every plugin's options written out in full and ``auc_comparable`` set (what
            the result records as ``config``).
        plugins: each plugin kind's :class:`ResolvedPlugin`.
        table_sizes: the rows per table when known before the data is opened, else None.
        hotness: ids per sample of each feature, or None for one-hot data.
        launcher: ``process`` (one worker) or ``torchrun`` (``world_size`` ranks).
        world_size: processes of the case.
        auc_comparable: the dataset's AUC can be set against published ones.
        optimizer_state_bytes_per_parameter: the optimizer plugin's state per parameter element.
        optimizer_linear_in_gradient: the optimizer plugin's update is proportional to the gradient (SGD).
        interaction_width: ``"module:attr"`` of the interaction plugin's ``output_width``, or None.
        interaction_saved: ``"module:attr"`` of the interaction plugin's ``saved_bytes``, or None.
        memory_plan: ``"module:attr"`` of the family's ``memory_plan``, or None.
        topology_tables: how the topology's ranks hold the tables (``PluginSpec.tables``; ``placed`` alone).
        metrics: the family's quality metrics (name, unit, direction), recorded with every value.
        target_metric: the family's metric that ``auc_threshold`` and the MLPerf quality target apply to.
        flops_per_sample: the family's training FLOPs per sample for this configuration, or None.
    """

    model_config = ConfigDict(extra="forbid")

    schema_id: Literal["dlrmbench.resolved_case/1"] = SCHEMA
    case: Case
    plugins: dict[PluginKind, ResolvedPlugin]
    table_sizes: list[int] | None = None
    hotness: list[int] | None = None
    launcher: Launcher = "process"
    world_size: int = 1
    auc_comparable: bool = True
    optimizer_state_bytes_per_parameter: float = 0.0
    optimizer_linear_in_gradient: bool = False
    interaction_width: str | None = None
    interaction_saved: str | None = None
    memory_plan: str | None = None
    topology_tables: Literal["placed", "replicated", "own"] = "placed"
    metrics: list[FamilyMetric] = []
    target_metric: str | None = None
    flops_per_sample: float | None = None

    @model_validator(mode="after")
    def _typed_model(self) -> "ResolvedCase":
        """The case's ``model`` as its family's configuration (constructed from the validated data, no
        registry: the family's options model is imported by name)."""
        family = self.plugins.get("family")
        if family is not None and not isinstance(self.case.model, import_object(family.options_model)):
            self.case.model = construct_options(import_object(family.options_model),
                                                self.case.model.model_dump(mode="json"))
        return self

    def options(self, kind: PluginKind) -> BaseModel:
        """The Options instance of the case's ``kind`` plugin (constructed, not re-validated)."""
        return self.plugins[kind].options_object()

    def interaction_saved_bytes(self, num_vectors: int, dim: int) -> int:
        """Bytes per sample the interaction keeps for its backward (0 when its plugin declares none)."""
        if self.interaction_saved is None:
            return 0
        return int(import_object(self.interaction_saved)(self.options("interaction"), num_vectors, dim))

    def output_width(self, num_vectors: int, dim: int) -> int | None:
        """The interaction's output width (the top MLP's input), or None when its plugin declares none."""
        if self.interaction_width is None:
            return None
        return int(import_object(self.interaction_width)(self.options("interaction"), num_vectors, dim))


def case_kinds(case: Case, family: PluginSpec) -> list[PluginKind]:
    """The plugin kinds ``case`` resolves: its family, the model kinds the family uses, the optimizer and
    the dataset, and a topology when it runs on several processes or names one (in :data:`KINDS` order)."""
    wanted = {*ALWAYS_USED, *family.uses}
    if case.world_size > 1 or case.distributed.topology is not None:  # a named one is checked even on 1 process
        wanted.add("topology")
    return [kind for kind in KINDS if kind in wanted]


def _chosen_name(case: Case, kind: PluginKind, family: PluginSpec) -> str:
    """The suite's choice of ``kind``, else the family's default, else the schema's (the default family's)."""
    if kind == "topology":
        name = case.distributed.topology or family.default_topology
        if not name:
            raise UserError(f"case {case.name}: family {family.name} declares no default topology for its "
                            f"{case.world_size} processes; set distributed.topology (dlrmbench list-plugins)")
        return name
    if not case.names_plugin(kind) and kind in family.defaults:
        return family.defaults[kind]
    return case.plugin(kind)[0]


def _validate(spec: PluginSpec, raw: dict[str, Any], case: Case, where: str) -> Any:
    try:
        return spec.options.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(options)'}: {e['msg']}"
                             for e in exc.errors())
        raise UserError(f"case {case.name}: {where} of {spec.kind} {spec.name!r}: {problems}") from None


def resolve_plugins(case: Case, registry: "Registry") -> tuple[dict[PluginKind, PluginSpec], dict[PluginKind, Any]]:
    """Every plugin's spec and validated options: the one place plugin options (and a family's model
    configuration) are validated (a UserError names the case, the field and the problem)."""
    family_name, family_raw = case.plugin("family")
    family = registry.get("family", family_name)
    specs: dict[PluginKind, PluginSpec] = {"family": family}
    options: dict[PluginKind, Any] = {"family": _validate(family, {"family": family_name, **family_raw}, case, "model")}
    unused = [k for k in MODEL_KINDS if k not in family.uses and case.names_plugin(k)]
    if unused:
        raise UserError(f"case {case.name}: family {family_name} does not use a {unused[0]} plugin; drop "
                        f"{'model.interaction' if unused[0] == 'interaction' else unused[0]} from the case")
    where = {"interaction": "model.interaction.options", "optimizer": "optimizer.options",
             "topology": "distributed.topology"}
    for kind in case_kinds(case, family)[1:]:
        spec = registry.get(kind, _chosen_name(case, kind, family))
        raw = {} if kind == "topology" or not case.names_plugin(kind) and kind in family.defaults \
            else case.plugin(kind)[1]
        options[kind] = _validate(spec, raw, case, where.get(kind, f"{kind}.options"))
        specs[kind] = spec
    return specs, options


def _with_full_options(case: Case, specs: dict[PluginKind, PluginSpec], options: dict[PluginKind, Any],
                       auc_comparable: bool, not_comparable: str | None = None) -> Case:
    """``case`` with every plugin named and its options as validated (defaults filled in), the family's
    model configuration in full (``mlp_init: auto`` written out as the interaction plugin's default), and the
    dataset's AUC property and throughput reason (``not_comparable``): what the worker reads and the result
    records."""
    data = case.model_dump()
    data["auc_comparable"] = auc_comparable
    if not_comparable is not None:
        data.update(comparable=False, not_comparable=not_comparable)
    data["model"] = {**options["family"].model_dump(mode="json"), "family": specs["family"].name}
    if data["model"].get("mlp_init") == "auto" and "interaction" in specs:  # the interaction's reference rule
        data["model"]["mlp_init"] = specs["interaction"].mlp_init
    for kind, value in options.items():
        dumped = value.model_dump(mode="json")
        if kind == "family":
            continue
        if kind == "interaction":
            data["model"]["interaction"] = {"name": specs[kind].name, "options": dumped}
        elif kind == "optimizer":
            data["optimizer"].update(name=specs[kind].name, options=dumped)
        elif kind == "topology":
            data["distributed"]["topology"] = specs[kind].name
        else:
            data[kind] = {"name": specs[kind].name, "options": dumped}
    for kind in ("backend", "embedding"):  # a kind the family does not use stays unset (resolving it again works)
        if kind not in specs:
            data.pop(kind)
    return Case.model_validate(data)  # another family's block becomes its typed configuration in ResolvedCase


def _plugin_path(spec: PluginSpec) -> str:
    path = object_path(spec.options)
    if path is None:
        raise UserError(f"{spec.kind} {spec.name} ({spec.source or 'in code'}): its options model "
                        f"{spec.options.__qualname__} must be defined at module level (workers import it by name)")
    return path


def _function_path(function: Any) -> str | None:
    """``"module:attr"`` of a plugin's light function (a worker and the planner import it by name); None when
    there is none, or when it cannot be imported by name (a lambda, a local function): the planner then
    knows nothing of it, as when the plugin declares none."""
    return object_path(function) if function is not None else None


def resolve_case(case: Case, registry: "Registry") -> tuple[ResolvedCase, dict[PluginKind, PluginSpec],
                                                            dict[PluginKind, Any]]:
    """Resolve ``case`` against ``registry``: the resolved case, plus the specs and validated options the
    planner's availability checks use."""
    specs, options = resolve_plugins(case, registry)
    dataset, family = specs["dataset"], specs["family"]
    model = options["family"]
    declared = getattr(model, "table_sizes", None)
    sizes = declared or (dataset.table_sizes(options["dataset"], case) if dataset.table_sizes else None)
    clip = getattr(model, "max_table_size", None)
    if sizes and clip is not None:
        sizes = [min(s, clip) for s in sizes]
    hotness = dataset.hotness(options["dataset"], case) if dataset.hotness is not None else None
    plugins = {kind: ResolvedPlugin(kind=kind, name=specs[kind].name, factory=specs[kind].factory,
                                    options_model=_plugin_path(specs[kind]),
                                    options=options[kind].model_dump(mode="json"))
               for kind in specs}
    width = specs["interaction"].output_width if "interaction" in specs else None
    saved = specs["interaction"].saved_bytes if "interaction" in specs else None
    throughput_reason = dataset.throughput_comparable(options["dataset"], case) \
        if dataset.throughput_comparable is not None else None
    full = _with_full_options(case, specs, options, dataset.auc_comparable, throughput_reason)
    resolved = ResolvedCase(
        case=full, plugins=plugins,
        table_sizes=list(sizes) if sizes else None, hotness=list(hotness) if hotness is not None else None,
        launcher="torchrun" if case.world_size > 1 else "process", world_size=case.world_size,
        auc_comparable=dataset.auc_comparable,
        optimizer_state_bytes_per_parameter=specs["optimizer"].state_bytes_per_parameter,
        optimizer_linear_in_gradient=specs["optimizer"].linear_in_gradient,
        interaction_width=_function_path(width),
        interaction_saved=_function_path(saved),
        memory_plan=_function_path(family.memory_plan),
        topology_tables=specs["topology"].tables if "topology" in specs else "placed",
        metrics=list(family.metrics(model) if callable(family.metrics) else family.metrics),
        target_metric=family.target_metric(model) if callable(family.target_metric) else family.target_metric,
    )
    if family.flops_per_sample is not None:
        resolved.flops_per_sample = family.flops_per_sample(model, resolved)
    return resolved, specs, options


def write_resolved_case(resolved: ResolvedCase, indent: int | None = None) -> str:
    """The case file's text (JSON)."""
    return resolved.model_dump_json(indent=indent)


def read_resolved_case(path: Path) -> ResolvedCase:
    """Read a case file written by the planner (a UserError names the file when it is not one)."""
    import json

    try:
        data = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UserError(f"{path}: cannot read the case file: {exc}") from None
    if not isinstance(data, dict) or data.get("schema_id") != SCHEMA:
        raise UserError(f"{path}: not a resolved case file ({SCHEMA}); write it with "
                        "`dlrmbench plan SUITE --case-files DIR` (files of older versions hold a bare case)")
    try:
        return ResolvedCase.model_validate(data)
    except ValidationError as exc:
        raise UserError(f"{path}: broken resolved case file: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}") \
            from None
