"""``dlrmbench validate``: check suites without running them."""

from __future__ import annotations

from pathlib import Path

import click

from dlrmbench.config.loader import load_suite
from dlrmbench.errors import UserError


@click.command("validate")
@click.argument("suites", nargs=-1, required=True, type=click.Path(path_type=Path))
def validate_command(suites: tuple[Path, ...]) -> None:
    """Check SUITES (YAML files) without running anything.

    Every problem is reported with its file, line and field path. Exits 2 if any suite is invalid.
    """
    failed = 0
    for path in suites:
        try:
            loaded = load_suite(path)
        except UserError as exc:
            failed += 1
            click.echo(f"✗ {exc.message}", err=True)
            continue
        click.echo(f"✓ {path}: suite {loaded.suite.name!r}, {len(loaded.cases)} case(s)")
    if failed:
        raise click.exceptions.Exit(2)
