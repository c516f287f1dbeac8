"""``dlrmbench results export``: every result set as one tidy table in a Parquet file or DuckDB database.

``compare`` and ``report`` accept the written file wherever they accept a results folder.
"""

from __future__ import annotations

from pathlib import Path

import click

from dlrmbench import hookimpl


@click.group("results")
def results_group() -> None:
    """Work with result sets as data (export them to one queryable table)."""


@results_group.command("export")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["parquet", "duckdb"]), required=True,
              help="parquet: one file, rewritten; duckdb: a database whose `results` table gains (or replaces) "
                   "these result sets and keeps the others.")
@click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="The file to write, ending in .parquet or .duckdb (matching --format).")
def export_command(paths: tuple[Path, ...], fmt: str, output: Path) -> None:
    """Export every result set found under PATHS (folders, run.json files or earlier exports) as a tidy
    table: one row per metric, step time, evaluation, inference row, config and environment field of
    every case, with the result set, suite, run id, case, repeat and status as columns.

    \b
    Needs the results extra: pip install 'dlrmbench[results]'. Query it with e.g.
      duckdb results.duckdb "SELECT run_id, \"case\", value FROM results WHERE name = 'train_throughput'"
    """
    from dlrmbench.errors import UserError
    from dlrmbench.results.load import load_results
    from dlrmbench.results.table import export, format_of

    if format_of(output) != fmt:
        raise UserError(f"--output {output}: the name says {format_of(output)}, --format says {fmt}; make them agree")
    from dlrmbench.results.store import check_output_file
    from dlrmbench.safe_text import shown

    check_output_file(output, "--output")  # before anything is read
    loaded = load_results(list(paths))
    for problem in loaded.problems:
        click.echo(f"Warning: {shown(problem)}", err=True)
    rows = export(loaded.sets, output)
    click.echo(f"Exported {len(loaded.sets)} result set(s), "
               f"{sum(len(s.results) for s in loaded.sets)} case result(s), {rows:,} rows to {output}")


@hookimpl
def register_commands(cli: click.Group) -> None:
    cli.add_command(results_group)
