"""``dlrmbench dataset inspect PATH``: format, samples, per-feature dtype and cardinality, label rate.

Thin click command over :func:`dlrmbench.data.validation.inspect.inspect_dataset`. Exit status:
0 when every file agrees, 1 when problems were found (all listed), 2 when PATH is not a dataset.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from dlrmbench import hookimpl


def render(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from dlrmbench.report.fit import print_table

    console = Console()
    console.print(f"[bold]{escape(str(report['path']))}[/]: {escape(str(report['format']))} dataset", soft_wrap=True)
    for name, info in report["splits"].items():
        if "samples" not in info:
            console.print(f"  {name}: [red]unreadable[/]")
            continue
        rate = info.get("label_rate")
        rate_text = f", label rate {rate:.4f}" if rate is not None else ""
        console.print(f"  {name}: {info['samples']:,} samples{rate_text}")
    print_files(console, report)
    first = next((i for i in report["splits"].values() if "features" in i), None)
    if report.get("table_sizes") and first is None:
        console.print(f"  {len(report['table_sizes'])} tables: {', '.join(f'{s:,}' for s in report['table_sizes'])}",
                      soft_wrap=True)
    if first is not None:
        table = Table(title="categorical features", title_justify="left")
        for column in ("feature", "key", "dtype", "table size", "ids seen"):
            table.add_column(column, justify="right" if column in ("feature", "table size") else "left", no_wrap=True)
        for f, feature in enumerate(first["features"]):
            seen = [f"{n}: {i['features'][f]['min_id']}..{i['features'][f]['max_id']}"
                    for n, i in report["splits"].items() if "features" in i and "max_id" in i["features"][f]]
            size = feature["table_size"]
            table.add_row(str(f), feature["key"], feature["dtype"], f"{size:,}" if size else "-", "; ".join(seen))
        print_table(console, table)
    if report["problems"]:
        for problem in report["problems"]:
            console.print(f"[red]✗[/] {problem}", soft_wrap=True)
    else:
        console.print("[green]✓[/] every file agrees")


def print_files(console: Any, report: dict[str, Any]) -> None:
    """Every file with the fingerprint a run records of it (size, modification time, sampled digest): the
    digest a result's ``environment.data`` and ``compare``'s data notes name."""
    from datetime import datetime, timezone

    from rich.table import Table

    from dlrmbench.report.fit import print_table

    rows = [(name, f) for name, info in report["splits"].items() for f in info.get("files", []) if "digest" in f]
    if not rows:
        return
    table = Table(title="files (fingerprint as a run records it)", title_justify="left")
    for column in ("split", "file", "bytes", "modified (UTC)", "sampled digest"):
        table.add_column(column, justify="right" if column == "bytes" else "left", no_wrap=True)
    for split, f in rows:
        when = datetime.fromtimestamp(f["mtime_ns"] / 1e9, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(split, str(f["name"]), f"{f['bytes']:,}", when, str(f["digest"]))
    print_table(console, table)


@click.group("dataset")
def dataset_group() -> None:
    """Look at dataset files (binary, split, and any format a dataset plugin declares)."""


@dataset_group.command("inspect")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--no-scan", is_flag=True, help="Check sizes only; skip the pass over the files (label rate, ids).")
def inspect_command(path: Path, as_json: bool, no_scan: bool) -> None:
    """Describe the dataset at PATH and check that every file agrees.

    PATH is a split dataset (model_size.json, train/, test/), a binary one (train_data.bin, ...),
    one binary file, or a directory in a format a dataset plugin declares. Exits 1 if a problem was
    found.
    """
    from dlrmbench.data.validation.inspect import inspect_dataset
    from dlrmbench.plugins import get_registry

    report = None
    if path.is_dir():
        for spec in get_registry().formats():  # every declared format, the built-in ones included
            if spec.format is not None and spec.format.detect(path):
                report = spec.format.inspect(path, not no_scan)
                break
    if report is None:  # one .bin file, or nothing recognised: the built-in inspector explains
        report = inspect_dataset(path, scan=not no_scan)
    if as_json:
        click.echo(json.dumps(report, indent=1))
    else:
        render(report)
    if not report["ok"]:
        raise click.exceptions.Exit(1)


@hookimpl
def register_commands(cli: click.Group) -> None:
    cli.add_command(dataset_group)
