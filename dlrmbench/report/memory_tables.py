"""Rich tables of memory plans, for ``dlrmbench plan`` and ``dlrmbench run --dry-run`` (no torch)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from dlrmbench.memory_plan import MemoryPlan, plan_for_host
from dlrmbench.report.fit import print_table


def memory_table(title: str, plan: MemoryPlan) -> Table:
    """One row per rank: the family's terms (DLRM: tables placed, their bytes, optimizer state, gradients,
    activations), the total and the device's usable memory."""
    table = Table(title=title, title_justify="left")
    rows = plan.rows()
    for column in rows[0]:
        table.add_column(column, no_wrap=True, justify="left" if column in ("device", "tables") else "right")
    for row in rows:
        table.add_row(*row.values())
    return table


def print_memory_plans(console: Console, planned: list[Any], host: Any, every_case: bool = False) -> int:
    """Print the memory plan of each multi-process case (of every case when ``every_case``); return how many."""
    shown = 0
    for item in planned:
        case = item.case
        if case.world_size <= 1 and not every_case:
            continue
        try:
            plan = plan_for_host(item.resolved, host)
        except ValueError as exc:
            console.print(f"[yellow]{case.name}[/]: no memory plan: {exc}")
            continue
        if plan is None:
            if item.resolved.memory_plan is None:
                console.print(f"{case.name}: its family ({case.model.family}) plans no memory before the run")
            else:
                console.print(f"{case.name}: table sizes come from the dataset at run time; the worker checks the plan")
            continue
        verdict = "[green]fits[/]" if plan.fits else "[red]does not fit[/]: " + "; ".join(plan.problems)
        where = f"{case.world_size} x {case.device}"
        print_table(console, memory_table(f"{case.name} ({where}, global batch {case.batch_size}): {verdict}", plan),
                    label_first=True)
        for note in plan.notes():
            console.print(f"  {note}")
        if plan.shared_capacity_bytes is not None:
            console.print(f"  all ranks share the host's memory: {plan.shared_capacity_bytes / 2**30:.2f} GiB usable "
                          f"({case.distributed.memory_fraction:g} of it)")
        shown += 1
    return shown
