"""The memory planner: a case's processes' bytes against the devices' memory, before anything runs.

Light (no torch). A family declares how its model's memory is planned (``PluginSpec.memory_plan``,
imported by name from the resolved case): named byte terms per rank, gathered by :func:`terms_plan`,
or a plan of its own with the same face (``fits``, ``problems``, ``rows()``, ``notes()``,
``shared_capacity_bytes``; the DLRM family's places tables per rank). This module gives every plan the
device capacities, the planner's verdict and the plain-text table of a skip reason, for every case:
single-process ones too, so that ``dlrmbench plan`` and ``run`` agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from dlrmbench.host import Host
    from dlrmbench.resolved import ResolvedCase

GIB = 2**30


class MemoryPlan(Protocol):
    """What the planner and ``dlrmbench plan`` read of a family's plan."""

    problems: list[str]
    shared_capacity_bytes: int | None

    @property
    def fits(self) -> bool: ...

    def rows(self) -> list[dict[str, str]]: ...

    def notes(self) -> list[str]: ...


def human_bytes(value: float) -> str:
    """``1.50 GiB``, ``12.0 MiB``, ``512 B``: binary units, three significant digits."""
    for unit, size in (("GiB", GIB), ("MiB", 2**20), ("KiB", 2**10)):
        if value >= size:
            return f"{value / size:.3g} {unit}" if value < 1000 * size else f"{value / size:.0f} {unit}"
    return f"{int(value)} B"


@dataclass
class TermsPlan:
    """A plan made of named byte terms per rank (what a family without a layout of its own declares)."""

    ranks: list[dict[str, float]]
    devices: list[str]
    capacities: list[int] | None
    shared_capacity_bytes: int | None
    problems: list[str] = field(default_factory=list)

    @property
    def fits(self) -> bool:
        return not self.problems

    def rows(self) -> list[dict[str, str]]:
        out = []
        for rank, terms in enumerate(self.ranks):
            usable = (human_bytes(self.capacities[rank]) if self.capacities
                      else "shared" if self.shared_capacity_bytes is not None else "unknown")
            out.append({"rank": str(rank), "device": self.devices[rank],
                        **{name: human_bytes(value) for name, value in terms.items()},
                        "total": human_bytes(sum(terms.values())), "usable": usable})
        return out

    def notes(self) -> list[str]:
        return []


def terms_plan(ranks: list[dict[str, float]], devices: list[str], capacities: list[int] | None,
               shared_capacity: int | None) -> TermsPlan:
    """The plan of per-rank byte terms, with its problems (a rank over its device; all ranks over the host)."""
    plan = TermsPlan(ranks, devices, capacities, shared_capacity)
    totals = [sum(t.values()) for t in ranks]
    if capacities:
        plan.problems += [f"rank {r} needs {total / GIB:.2f} GiB, its device has {capacities[r] / GIB:.2f} GiB usable"
                          for r, total in enumerate(totals) if total > capacities[r]]
    if shared_capacity is not None and sum(totals) > shared_capacity:
        plan.problems.append(f"the {len(ranks)} ranks need {sum(totals) / GIB:.2f} GiB together, the host has "
                             f"{shared_capacity / GIB:.2f} GiB usable")
    return plan


def rank_devices(resolved: "ResolvedCase") -> list[str]:
    """The device label of each rank (``cuda:0``, ``cpu rank 1``)."""
    case = resolved.case
    return [f"cuda:{r}" if case.device == "cuda" else f"cpu rank {r}" for r in range(resolved.world_size)]


def capacities(resolved: "ResolvedCase", host: "Host") -> tuple[list[int] | None, int | None]:
    """Usable bytes per rank's device (GPUs x memory_fraction), or shared by all ranks (the host's memory)."""
    case = resolved.case
    fraction = case.distributed.memory_fraction
    if case.device == "cuda":
        gpus = list(host.gpus)
        if len(gpus) < resolved.world_size:
            return None, None
        return [int(gpus[r].memory_bytes * fraction) for r in range(resolved.world_size)], None
    return None, int(host.memory_bytes * fraction) if host.memory_bytes else None


def plan_for_host(resolved: "ResolvedCase", host: "Host", table_sizes: list[int] | None = None) -> MemoryPlan | None:
    """The family's memory plan of the case on ``host``; None when the family plans nothing before the run
    or the table sizes are known only from the data (a worker passes them once it knows them)."""
    from dlrmbench.resolved import import_object

    sizes = table_sizes if table_sizes is not None else resolved.table_sizes
    if resolved.memory_plan is None or sizes is None:
        return None
    per_rank, shared = capacities(resolved, host)
    return import_object(resolved.memory_plan)(resolved, list(sizes), per_rank, shared)


def format_plan(plan: MemoryPlan) -> str:
    """The plan as a plain-text table (the skip reason of a case that does not fit)."""
    rows = plan.rows()
    columns = list(rows[0]) if rows else []
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns)]
    lines += ["  ".join(r[c].ljust(widths[c]) for c in columns) for r in rows]
    if plan.shared_capacity_bytes is not None:
        lines.append(f"host memory shared by all ranks: {human_bytes(plan.shared_capacity_bytes)} usable")
    return "\n".join(lines)


def memory_reason(resolved: "ResolvedCase", host: "Host") -> str | None:
    """Why the case cannot run here for its processes or memory, or None (the planner's check)."""
    case = resolved.case
    if resolved.world_size > 1 and case.mode == "inference":
        return (f"the inference benchmark runs on one device; set {'gpus' if case.device == 'cuda' else 'processes'}: 1 "
                "(multi-process topologies are for train and test)")
    if resolved.world_size > 1 and case.device == "cpu" and case.processes > host.cpu_count \
            and not case.distributed.oversubscribe:
        return (f"needs {case.processes} processes; this machine has {host.cpu_count} CPU cores "
                "(set distributed.oversubscribe: true to run anyway)")
    try:
        plan = plan_for_host(resolved, host)
    except ValueError as exc:
        return str(exc)
    if plan is None or plan.fits:
        return None
    return "does not fit: " + "; ".join(plan.problems) + "\n" + format_plan(plan)
