"""The plugin manager: loads built-in and third-party plugins through one entry-point group.

Built-ins (``plugins/``, import name ``dlrmbench_plugins``) are declared in this project's
``pyproject.toml`` under ``[project.entry-points.dlrmbench]``, exactly like a third-party
package's. A plugin whose import raises is recorded as broken with its error and never takes the
CLI down.

Environment switches:
    DLRMBENCH_DISABLE_PLUGIN_AUTOLOAD=1   load no entry points (only plugins added in code).
    DLRMBENCH_BLOCK_PLUGINS=a,b           skip these entry-point names.
"""

from __future__ import annotations

import os
import traceback
from dataclasses import dataclass, field
from importlib import metadata

import pluggy

from dlrmbench import hookspecs
from dlrmbench.errors import UserError, did_you_mean
from dlrmbench.plugin_api import KINDS, PluginKind, PluginSpec

ENTRY_POINT_GROUP = "dlrmbench"

REGISTRATION_HOOKS: dict[PluginKind, str] = {
    "family": "register_families",
    "backend": "register_backends",
    "embedding": "register_embeddings",
    "interaction": "register_interactions",
    "optimizer": "register_optimizers",
    "dataset": "register_datasets",
    "topology": "register_topologies",
    "telemetry": "register_telemetry",
}
"""The hook that registers each plugin kind."""


@dataclass
class BrokenPlugin:
    """A plugin that could not be imported or registered."""

    name: str
    source: str
    error: str


@dataclass
class Registry:
    """Every registered implementation by kind and name, plus the plugins that failed."""

    specs: dict[PluginKind, dict[str, PluginSpec]] = field(default_factory=lambda: {k: {} for k in KINDS})
    broken: list[BrokenPlugin] = field(default_factory=list)
    plugin_sources: dict[str, str] = field(default_factory=dict)

    def add(self, spec: PluginSpec, source: str) -> None:
        if spec.kind not in self.specs:
            raise ValueError(f"plugin {source}: unknown kind {spec.kind!r}; expected one of {', '.join(KINDS)}")
        existing = self.specs[spec.kind].get(spec.name)
        if existing is not None:
            raise ValueError(
                f"{spec.kind} {spec.name!r} is registered twice: by {existing.source} and by {source}"
            )
        from dataclasses import replace

        self.specs[spec.kind][spec.name] = replace(spec, source=source)

    def get(self, kind: PluginKind, name: str) -> PluginSpec:
        """Return the implementation ``name`` of ``kind`` or raise a UserError listing the choices."""
        try:
            return self.specs[kind][name]
        except KeyError:
            choices = sorted(self.specs[kind])
            raise UserError(
                f"unknown {kind} {name!r}{did_you_mean(name, choices)}; "
                f"choose one of: {', '.join(choices) or '(none registered)'}"
            ) from None

    def names(self, kind: PluginKind) -> list[str]:
        return sorted(self.specs[kind])

    def formats(self) -> list[PluginSpec]:
        """Dataset specs that declare an on-disk format, highest priority first, then by name."""
        specs = [s for s in self.specs["dataset"].values() if s.format is not None]
        return sorted(specs, key=lambda s: (-s.format.priority, s.name))  # type: ignore[union-attr]

    def all_specs(self) -> list[PluginSpec]:
        return [spec for kind in KINDS for _, spec in sorted(self.specs[kind].items())]


def _entry_points() -> list[metadata.EntryPoint]:
    return sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)


def _distribution_of(ep: metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return ep.value
    return f"{dist.metadata['Name']} {dist.version}"


def make_manager(extra_plugins: list[object] | None = None) -> tuple[pluggy.PluginManager, Registry]:
    """Build a plugin manager, load plugins, and collect their registrations.

    Args:
        extra_plugins: plugin objects (modules or instances) registered in code, e.g. by tests.
    """
    pm = pluggy.PluginManager("dlrmbench")
    pm.add_hookspecs(hookspecs)
    registry = Registry()
    blocked = {n.strip() for n in os.environ.get("DLRMBENCH_BLOCK_PLUGINS", "").split(",") if n.strip()}
    if os.environ.get("DLRMBENCH_DISABLE_PLUGIN_AUTOLOAD", "") not in ("1", "true", "yes"):
        for ep in _entry_points():
            if ep.name in blocked or pm.has_plugin(ep.name):
                continue
            source = _distribution_of(ep)
            try:
                plugin = ep.load()
                pm.register(plugin, name=ep.name)
                registry.plugin_sources[ep.name] = source
            except Exception as exc:
                registry.broken.append(BrokenPlugin(ep.name, source, _short_error(exc)))
    for plugin in extra_plugins or []:
        pm.register(plugin)
        registry.plugin_sources[pm.get_name(plugin) or repr(plugin)] = "in code"
    pm.check_pending()
    _collect(pm, registry)
    return pm, registry


def _short_error(exc: BaseException) -> str:
    last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" ({last[0].filename}:{last[0].lineno})" if last else ""
    return f"{type(exc).__name__}: {exc}{where}"


def _collect(pm: pluggy.PluginManager, registry: Registry) -> None:
    for kind, hook_name in REGISTRATION_HOOKS.items():
        hook = getattr(pm.hook, hook_name)
        for impl in hook.get_hookimpls():
            name = impl.plugin_name
            source = registry.plugin_sources.get(name, name)

            def register(spec: PluginSpec, _source: str = source, _kind: str = kind) -> None:
                if spec.kind != _kind:
                    raise ValueError(f"{_kind} hook registered a {spec.kind} spec {spec.name!r}")
                registry.add(spec, _source)

            try:
                impl.function(register=register)
            except Exception as exc:
                registry.broken.append(BrokenPlugin(name, source, _short_error(exc)))


_cached: tuple[pluggy.PluginManager, Registry] | None = None


def get_registry() -> Registry:
    """The process-wide registry, built on first use (never at import time)."""
    global _cached
    if _cached is None:
        _cached = make_manager()
    return _cached[1]


def get_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, built on first use."""
    global _cached
    if _cached is None:
        _cached = make_manager()
    return _cached[0]


def reset() -> None:
    """Forget the cached manager (tests use this after installing a plugin)."""
    global _cached
    _cached = None
