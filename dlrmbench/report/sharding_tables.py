"""The per-table sharding plan of a topology that places tables with its own planner (``tables: own``, e.g.
TorchRec's for ``torchrec_dmp``), for ``dlrmbench plan``. The topology's ``table_plan`` hook makes the rows
(it may import torch, so it is called only for cases of such a topology); rendering here needs no torch."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from dlrmbench.report.fit import print_plain, print_table


def rank_text(ranks: list[int]) -> str:
    """``[0, 1, 2, 3, 5]`` -> ``0-3, 5``."""
    spans: list[list[int]] = []
    for rank in sorted(set(ranks)):
        if spans and spans[-1][1] == rank - 1:
            spans[-1][1] = rank
        else:
            spans.append([rank, rank])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)


def sharding_table(title: str, rows: list[dict[str, Any]]) -> Table:
    """One row per table: its rows, the sharding type and compute kernel chosen, and the ranks holding it."""
    table = Table(title=Text(title), title_justify="left")
    for column, justify in (("table", "left"), ("rows", "right"), ("sharding type", "left"), ("kernel", "left"),
                            ("ranks", "left")):
        table.add_column(column, no_wrap=True, justify=justify)  # type: ignore[arg-type]
    for row in rows:
        table.add_row(Text(str(row["table"])), f"{row['rows']:,}" if row.get("rows") is not None else "-",
                      Text(str(row["sharding_type"])), Text(str(row["compute_kernel"])), rank_text(row["ranks"]))
    return table


def table_plans(planned: list[Any], registry: Any) -> dict[str, "list[dict[str, Any]] | str"]:
    """Case name -> its topology's per-table plan, or why it cannot be made, for each case whose topology
    declares a ``table_plan`` (the others are left out: nothing of theirs is imported)."""
    plans: dict[str, list[dict[str, Any]] | str] = {}
    for item in planned:
        topology = item.resolved.plugins.get("topology") if item.resolved is not None else None
        if topology is None:
            continue
        spec = registry.get("topology", topology.name)
        if spec.table_plan is None:
            continue
        try:
            plans[item.case.name] = spec.table_plan(item.resolved)
        except Exception as exc:  # noqa: BLE001 (the planner's own error, shown with the case; plan goes on)
            plans[item.case.name] = f"its planner failed: {type(exc).__name__}: {exc}"
    return plans


def print_sharding_plans(console: Console, planned: list[Any], plans: dict[str, Any]) -> int:
    """Each case's per-table plan from :func:`table_plans`, or why it cannot be shown; how many were shown."""
    shown = 0
    for item in planned:
        if item.case.name not in plans:
            continue
        case, answer = item.case, plans[item.case.name]
        topology = item.resolved.plugins["topology"]
        if isinstance(answer, str):
            print_plain(console, [f"{case.name}: the per-table sharding plan of topology {topology.name} is not "
                                  f"shown: {answer}"])
            continue
        print_table(console, sharding_table(f"{case.name}: per-table sharding plan", answer))
        print_plain(console, [f"  chosen by {topology.name}'s planner for {case.world_size} ranks of {case.device}, "
                              f"global batch {case.batch_size}"])
        shown += 1
    return shown
