"""Tables that never split a number or a name: drawn whole when they fit the console, else stacked.

A pipe gets 80 columns (or ``COLUMNS``); a terminal its own width. Folding a cell to fit would cut
``32768`` into ``3276`` / ``8``, so a table that does not fit at its natural width is printed as the
same content in a plain stacked list, one block per row, which the terminal may fold only at its edge.
"""

from __future__ import annotations

import io

from rich.console import Console
from rich.table import Table
from rich.text import Text


def fits(console: Console, table: Table) -> bool:
    """True when ``table`` can be drawn at its natural width (every cell on its own lines, nothing
    folded or cropped) within the console's width."""
    from rich.cells import cell_len

    probe = Console(width=100_000, file=io.StringIO(), color_system=None, legacy_windows=False)
    probe.print(table)
    lines = probe.file.getvalue().splitlines()  # type: ignore[attr-defined]
    return max((cell_len(line.rstrip()) for line in lines), default=0) <= console.width


def print_plain(console: Console, lines: list[str]) -> None:
    """Plain lines, no markup parsing, never wrapped or cropped by rich (the terminal may fold them)."""
    for line in lines:
        console.print(line, markup=False, highlight=False, soft_wrap=True, emoji=False)


def _plain(value: object) -> str:
    if isinstance(value, Text):
        return value.plain
    if isinstance(value, str):
        return Text.from_markup(value).plain
    return str(value)


def table_lines(table: Table, label_first: bool = False) -> list[str]:
    """The table as a stacked list: its title, then per row ``- FIRST CELL`` (``- HEADER FIRST CELL`` with
    ``label_first``, for a bare number such as a rank) and ``    header: cell`` for every other non-empty
    cell (a cell's extra lines indented under its first)."""
    lines = [_plain(table.title)] if table.title else []
    headers = [_plain(c.header) for c in table.columns]
    cells = [[_plain(v) for v in c.cells] for c in table.columns]
    for index in range(table.row_count):
        first = cells[0][index] if cells else ""
        lines.append(f"- {headers[0] + ' ' if label_first else ''}{first}".rstrip())
        for header, column in zip(headers[1:], cells[1:]):
            value = column[index]
            if not value.strip() or value.strip() == "—":
                continue
            parts = value.split("\n")
            lines.append(f"    {header}: {parts[0]}")
            lines.extend(f"    {' ' * len(header)}  {part}" for part in parts[1:])
    return lines


def print_table(console: Console, table: Table, stacked: list[str] | None = None, label_first: bool = False) -> None:
    """``table`` when it fits whole, else ``stacked`` (default: :func:`table_lines` of the table)."""
    if fits(console, table):
        console.print(table)
    else:
        print_plain(console, stacked if stacked is not None else table_lines(table, label_first))
