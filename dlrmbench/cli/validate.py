"""``dlrmbench validate``: check suites without running them."""

from __future__ import annotations

from pathlib import Path

import click

from dlrmbench.config.loader import load_suite
from dlrmbench.errors import UserError


@click.command("validate")
@click.argument("suites", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON document (schema dlrmbench.validate): every problem with file, line and field path.")
def validate_command(suites: tuple[Path, ...], as_json: bool) -> None:
    """Check SUITES (YAML files) without running anything.

    Every problem is reported with its file, line and field path. Exits 2 if any suite is invalid.
    """
    from dlrmbench.report.jsonout import document, problem_record

    failed = 0
    records = []
    for path in suites:
        try:
            loaded = load_suite(path)
        except UserError as exc:
            failed += 1
            problems = getattr(exc, "problems", None) or [exc.message.removeprefix(f"{path}: ")]
            records.append({"file": str(path), "valid": False, "suite": None, "cases": None,
                            "problems": [problem_record(path, p) for p in problems]})
            if not as_json:
                click.echo(f"✗ {exc.message}", err=True)
            continue
        records.append({"file": str(path), "valid": True, "suite": loaded.suite.name, "cases": len(loaded.cases),
                        "problems": []})
        if not as_json:
            click.echo(f"✓ {path}: suite {loaded.suite.name!r}, {len(loaded.cases)} case(s)")
    if as_json:
        click.echo(document("dlrmbench.validate", valid=not failed, suites=records), nl=False)
    if failed:
        raise click.exceptions.Exit(2)
