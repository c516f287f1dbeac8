"""``dlrmbench suites``: the suites shipped with dlrmbench, runnable by bare name (``dlrmbench run quickstart``)."""

from __future__ import annotations

import click
from rich.console import Console

from dlrmbench.config.catalog import shipped_suites
from dlrmbench.errors import UserError


@click.command("suites")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts: name, file, cases, description.")
def suites_command(as_json: bool) -> None:
    """List the shipped suites: name, number of cases and what each measures.

    Run one by name (`dlrmbench run quickstart`, `dlrmbench run dgxa100 --dry-run`); a path to
    a suite file of your own works the same way.
    """
    from dlrmbench.config.loader import load_suite
    from dlrmbench.report.terminal import print_plain

    found = shipped_suites()
    if not found:
        raise UserError("no shipped suites found (the dlrmbench_suites package data is missing: reinstall dlrmbench)")
    records = []
    for name, path in found.items():
        try:
            loaded = load_suite(path, check_plugins=False)
            cases, description = len(loaded.cases), " ".join((loaded.suite.description or "").split())
        except UserError as exc:  # a shipped suite that does not load is shown, not fatal
            cases, description = None, f"(invalid: {exc.message})"
        records.append({"name": name, "file": str(path), "cases": cases, "description": description})
    if as_json:
        from dlrmbench.report.jsonout import document

        click.echo(document("dlrmbench.suites", suites=records), nl=False)
        return
    import textwrap

    console = Console()
    lines = []
    for record in records:
        count = "?" if record["cases"] is None else str(record["cases"])
        lines.append(f"{record['name']} ({count} case{'' if count == '1' else 's'})")
        if record["description"]:  # wrapped between words, never inside one
            lines.extend(textwrap.wrap(record["description"], width=max(console.width, 40), initial_indent="    ",
                                       subsequent_indent="    ", break_long_words=False, break_on_hyphens=False))
    lines.append("Run one by name: dlrmbench run NAME (add --dry-run to see its cases first).")
    print_plain(console, lines)
