"""Planning: decide, before anything heavy is imported, which cases can run here and why not.

Each case becomes a :class:`PlannedCase`: runnable, or skipped with a human reason (no CUDA, too
few GPUs, a precision the device cannot run, a plugin that is unavailable for this case).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Callable

from dlrmbench.config.capabilities import precision_unavailable
from dlrmbench.config.schema import Case
from dlrmbench.host import Host
from dlrmbench.plugins import Registry

CaseCheck = Callable[[Case, Host], "str | None"]


@dataclass
class PlannedCase:
    case: Case
    skip_reason: str | None = None

    @property
    def runnable(self) -> bool:
        return self.skip_reason is None


def device_reason(case: Case, host: Host) -> str | None:
    """Why the case's device, GPU count or precision is not available here."""
    if case.device == "cuda":
        if host.cuda_devices == 0:
            return host.no_gpu_reason()
        if case.gpus > host.cuda_devices:
            return f"needs {case.gpus} GPUs; this machine has {host.cuda_devices}"
        return precision_unavailable(case, host.gpus[0].compute_capability)
    return precision_unavailable(case, None)


def distributed_reason(case: Case, host: Host) -> str | None:
    """Multi-process cases need the hybrid-parallel launcher."""
    if case.world_size > 1:
        from dlrmbench.plugin_api import module_available

        if case.optimizer.name == "adagrad":
            return (f"{case.world_size}-process runs train with SGD; optimizer adagrad runs single-process for now "
                    "(its hybrid-parallel update lands with the optimizer plugin kind)")

        if not module_available("dlrmbench.distributed.launch"):
            return f"{case.world_size}-process runs need the hybrid-parallel launcher, not available in this build"
    return None


def plugin_reason(case: Case, host: Host, registry: Registry) -> str | None:
    for kind in ("backend", "embedding", "dataset"):
        ref = getattr(case, kind)
        spec = registry.get(kind, ref.name)  # type: ignore[arg-type]
        reason = spec.availability(host, case, spec.options.model_validate(ref.options))
        if reason:
            return f"{kind} {ref.name}: {reason}"
    return None


_extra_checks: list[CaseCheck] = []


def add_check(check: CaseCheck) -> None:
    """Register an extra planning check (e.g. the memory planner of multi-GPU runs)."""
    if check not in _extra_checks:
        _extra_checks.append(check)


def select(cases: list[Case], only: tuple[str, ...]) -> list[Case]:
    """Cases whose name matches any glob in ``only`` (all when empty)."""
    if not only:
        return cases
    return [c for c in cases if any(fnmatch.fnmatchcase(c.name, p) or p in c.name for p in only)]


def plan(cases: list[Case], host: Host, registry: Registry) -> list[PlannedCase]:
    """Decide for each case whether it runs here; the first reason found wins."""
    planned = []
    for case in cases:
        reason = (
            device_reason(case, host)
            or plugin_reason(case, host, registry)
            or distributed_reason(case, host)
        )
        for check in _extra_checks:
            reason = reason or check(case, host)
        planned.append(PlannedCase(case, reason))
    return planned
