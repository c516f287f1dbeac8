"""Planning: decide, before anything heavy is imported, which cases can run here and why not.

Each case becomes a :class:`PlannedCase`: its :class:`~dlrmbench.resolved.ResolvedCase` (every
plugin's options validated once, by :func:`dlrmbench.resolved.resolve_plugins`, and written back into
the case in full, defaults included; the table sizes when known before the data is opened; the ids
per feature; the launcher; the plugins' factories), which is exactly what the worker receives, and
either runnable or skipped with a human reason (no CUDA, too few GPUs, a precision the device cannot
run, a plugin that is unavailable for this case, multi-hot data for a one-hot strategy, a serving
target whose runtime is not installed, an allocator library that is not installed, a plan that does not
fit in memory).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any

from dlrmbench.config.capabilities import precision_unavailable
from dlrmbench.config.schema import Case
from dlrmbench.devices import device_of
from dlrmbench.host import Host
from dlrmbench.memory_plan import memory_reason
from dlrmbench.plugin_api import PluginKind, PluginSpec
from dlrmbench.mlperf.closed import closed_reason
from dlrmbench.plugins import Registry
from dlrmbench.resolved import Launcher, ResolvedCase, resolve_case, resolve_plugins

__all__ = ["PlannedCase", "plan", "resolve", "resolve_plugins", "select"]


@dataclass
class PlannedCase:
    """One planned case: the resolved case the worker receives, or why it is skipped."""

    resolved: ResolvedCase
    skip_reason: str | None = None
    options: dict[PluginKind, Any] = field(default_factory=dict)  # the validated Options instances

    @property
    def case(self) -> Case:
        return self.resolved.case

    @property
    def table_sizes(self) -> list[int] | None:
        return self.resolved.table_sizes

    @property
    def hotness(self) -> list[int] | None:
        return self.resolved.hotness

    @property
    def launcher(self) -> Launcher:
        return self.resolved.launcher

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


def plugin_reason(case: Case, host: Host, specs: dict[PluginKind, PluginSpec], options: dict[PluginKind, Any]
                  ) -> str | None:
    """The first plugin of the case that cannot run here or does not serve the case's family."""
    family = specs["family"].name
    for kind, spec in specs.items():
        if kind != "family" and not spec.serves(family):
            served = ", ".join(spec.families or ())
            return (f"{kind} {spec.name} serves the {served} famil{'y' if len(spec.families or ()) == 1 else 'ies'}, "
                    f"not {family}: choose a {kind} of the {family} family (dlrmbench list-plugins)")
        reason = spec.availability(host, case, options[kind])
        if reason:
            return f"{kind} {spec.name}: {reason}"
    return None


def multi_hot_reason(case: Case, embedding: PluginSpec | None, hotness: list[int] | None) -> str | None:
    if embedding is None:
        return None
    if hotness is not None and any(h != 1 for h in hotness) and not embedding.multi_hot:
        return (f"embedding {embedding.name}: multi-hot is not supported by this strategy (one id per feature; the "
                f"dataset gives up to {max(hotness)} ids per feature); choose a strategy marked multi-hot in "
                "dlrmbench list-plugins")
    return None


def allocator_reason(case: Case) -> str | None:
    """Why the case's allocator cannot be used here: its library is not installed."""
    from dlrmbench.allocators import unavailable_reason

    return unavailable_reason(case.allocator)


def serve_reason(case: Case, family: PluginSpec) -> str | None:
    """Why a ``mode: serve`` case cannot run here: its family has no serving export, its serving precision has
    no kernels here (bf16 without native bf16, or in onnxruntime's CPU provider), or its target needs a module
    that is not installed."""
    if case.mode != "serve" or case.serve is None:
        return None
    if not family.serving:
        return f"mode serve exports the model for serving; family {family.name} declares no serving export"
    from dlrmbench.export.requirements import missing_modules_reason

    if case.serve.precision == "int8" and case.device != "cpu":
        return ("serve precision int8: PyTorch's dynamic quantisation and quantised embedding bags run on the CPU; "
                "set device: cpu")
    if case.serve.precision == "bf16" and case.device == "cpu":
        from dlrmbench.cpu_features import native_bf16_reason

        why = native_bf16_reason()
        if why:
            return f"serve precision bf16: {why}"
    missing = missing_modules_reason(case.serve)
    if missing is None and case.serve.precision == "bf16" and case.serve.target == "onnxruntime":
        from dlrmbench.export.requirements import onnxruntime_bf16_reason

        why = onnxruntime_bf16_reason()
        if why:
            return f"serve precision bf16, target onnxruntime: {why}"
    return missing


def thread_warning(case: Case, host: Host) -> str | None:
    """Why a case's CPU threads oversubscribe this machine (``threads`` x ``processes`` above its cores), or None:
    the processes then compete for cores and the figures measure the contention."""
    if case.threads is None or case.device != "cpu":
        return None
    wanted = case.threads * case.processes
    if wanted <= host.cpu_count:
        return None
    return (f"threads {case.threads} x processes {case.processes} = {wanted} exceed the {host.cpu_count} CPU "
            f"core(s) here; the threads will compete for cores (lower threads)")


def emulated_bf16_warning(case: Case) -> str | None:
    """Why a CPU case at bf16 times emulation, or None: without AVX-512-BF16 or AMX torch computes bf16 matmuls
    in float32 and rounds, so the case runs slower than fp32 and its speed says nothing about bf16 hardware
    (its accuracy still is bf16's)."""
    if case.device != "cpu" or case.precision != "bf16" or case.mode == "serve":
        return None  # serve: its bf16 is planned as skipped (serve_reason)
    from dlrmbench.cpu_features import native_bf16_reason

    why = native_bf16_reason()
    if why is None:
        return None
    return f"precision bf16: {why}; its speed measures the emulation, not bf16 hardware (fp32 is faster here)"


def plan_warnings(case: Case, host: Host) -> list[str]:
    """What ``run`` warns of for a runnable case before it runs (the case still runs)."""
    return [w for w in (thread_warning(case, host), emulated_bf16_warning(case)) if w]


def select(cases: list[Case], only: tuple[str, ...]) -> list[Case]:
    """Cases whose name matches any glob in ``only`` (all when empty)."""
    if not only:
        return cases
    return [c for c in cases if any(fnmatch.fnmatchcase(c.name, p) or p in c.name for p in only)]


def resolve(case: Case, host: Host, registry: Registry) -> PlannedCase:
    """The resolved case (validated plugins, known table sizes, launcher) and the first reason not to run."""
    resolved, specs, options = resolve_case(case, registry)
    reason = (
        device_reason(case, host)
        or plugin_reason(resolved.case, host, specs, options)
        or multi_hot_reason(case, specs.get("embedding"), resolved.hotness)
        or serve_reason(case, specs["family"])
        or allocator_reason(case)
        or closed_reason(resolved.case, resolved.table_sizes, resolved.hotness)
        or memory_reason(resolved, host)
    )
    return PlannedCase(resolved, reason, options)


def plan(cases: list[Case], host: Host, registry: Registry) -> list[PlannedCase]:
    """Resolve every case; the first reason found wins."""
    return [resolve(case, host, registry) for case in cases]
