"""``dlrmbench compare``: result sets side by side, against references and a baseline."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console



@click.command("compare")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--baseline", type=click.Path(path_type=Path), default=None,
              help="A result set (run directory) to compute ratios against.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json", "markdown"]), default="table",
              show_default=True, help="Output format.")
def compare_command(paths: tuple[Path, ...], baseline: Path | None, fmt: str) -> None:
    """Compare every result set found under PATHS (directories or run.json files).

    One row per case and one column group per result set: the median over repeats with its spread,
    the ratio to the suite's reference value, and the ratio to --baseline. Malformed result files
    are reported and skipped.

    \b
    A case is flagged as a regression or improvement only when both result
    sets have at least 2 ok repeats (--repeat) and the medians differ by more
    than the measured noise: max(relative spread of either set, 2%), where
    spread = (max - min) / median over repeats. Scaled-down cases get no
    reference ratio; AUC on synthetic data is not compared with the reference.
    Environments that differ (GPU model, driver, package versions) are listed
    with a warning.
    """
    from dlrmbench.report import export
    from dlrmbench.results.compare import compare
    from dlrmbench.results.load import load_with_baseline

    loaded, base_set = load_with_baseline(list(paths), baseline)
    for problem in loaded.problems:
        click.echo(f"Warning: {problem}", err=True)
    comparison = compare(loaded.sets, base_set)
    if fmt != "table":
        for diff in comparison.env_differences:
            click.echo(f"Warning: environments differ in {diff.key}: "
                       + "; ".join(f"{k}: {v}" for k, v in diff.values.items()), err=True)
    if fmt == "table":
        from dlrmbench.report.terminal import print_comparison

        print_comparison(Console(), comparison)
    elif fmt == "csv":
        click.echo(export.to_csv(comparison), nl=False)
    elif fmt == "json":
        click.echo(export.to_json(comparison), nl=False)
    else:
        click.echo(export.to_markdown(comparison), nl=False)
