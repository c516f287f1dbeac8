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
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from dlrmbench.config.schema import Case
from dlrmbench.errors import UserError
from dlrmbench.plugin_api import KINDS, BuildContext, PluginKind, PluginSpec

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
        interaction_width: ``"module:attr"`` of the interaction plugin's ``output_width``, or None.
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
    interaction_width: str | None = None

    def options(self, kind: PluginKind) -> BaseModel:
        """The Options instance of the case's ``kind`` plugin (constructed, not re-validated)."""
        return self.plugins[kind].options_object()

    def output_width(self, num_vectors: int, dim: int) -> int | None:
        """The interaction's output width (the top MLP's input), or None when its plugin declares none."""
        if self.interaction_width is None:
            return None
        return int(import_object(self.interaction_width)(self.options("interaction"), num_vectors, dim))


def resolve_plugins(case: Case, registry: "Registry") -> tuple[dict[PluginKind, PluginSpec], dict[PluginKind, Any]]:
    """Every plugin's spec and validated options: the one place plugin options are validated (a
    UserError names the case, the field and the problem)."""
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


def _with_full_options(case: Case, options: dict[PluginKind, Any], auc_comparable: bool,
                       mlp_init: str = "nvidia") -> Case:
    """``case`` with every plugin's options as validated (defaults filled in), the dataset's AUC
    property and the MLP initialisation written out (``auto``: ``mlp_init``, the interaction's default):
    what the worker reads and the result records."""
    data = case.model_dump()
    data["auc_comparable"] = auc_comparable
    if data["model"]["mlp_init"] == "auto":
        data["model"]["mlp_init"] = mlp_init
    for kind, value in options.items():
        dumped = value.model_dump(mode="json")
        if kind == "interaction":
            data["model"]["interaction"]["options"] = dumped
        elif kind == "optimizer":
            data["optimizer"]["options"] = dumped
        else:
            data[kind]["options"] = dumped
    return Case.model_validate(data)


def _plugin_path(spec: PluginSpec) -> str:
    path = object_path(spec.options)
    if path is None:
        raise UserError(f"{spec.kind} {spec.name} ({spec.source or 'in code'}): its options model "
                        f"{spec.options.__qualname__} must be defined at module level (workers import it by name)")
    return path


def resolve_case(case: Case, registry: "Registry") -> tuple[ResolvedCase, dict[PluginKind, PluginSpec],
                                                            dict[PluginKind, Any]]:
    """Resolve ``case`` against ``registry``: the resolved case, plus the specs and validated options the
    planner's availability checks use."""
    specs, options = resolve_plugins(case, registry)
    dataset = specs["dataset"]
    sizes = case.model.table_sizes or (dataset.table_sizes(options["dataset"], case) if dataset.table_sizes else None)
    if sizes and case.model.max_table_size is not None:
        sizes = [min(s, case.model.max_table_size) for s in sizes]
    hotness = dataset.hotness(options["dataset"], case) if dataset.hotness is not None else None
    plugins = {kind: ResolvedPlugin(kind=kind, name=specs[kind].name, factory=specs[kind].factory,
                                    options_model=_plugin_path(specs[kind]),
                                    options=options[kind].model_dump(mode="json"))
               for kind in KINDS}
    width = specs["interaction"].output_width
    resolved = ResolvedCase(
        case=_with_full_options(case, options, dataset.auc_comparable, specs["interaction"].mlp_init), plugins=plugins,
        table_sizes=list(sizes) if sizes else None, hotness=list(hotness) if hotness is not None else None,
        launcher="torchrun" if case.world_size > 1 else "process", world_size=case.world_size,
        auc_comparable=dataset.auc_comparable,
        optimizer_state_bytes_per_parameter=specs["optimizer"].state_bytes_per_parameter,
        interaction_width=object_path(width) if width is not None else None,
    )
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
