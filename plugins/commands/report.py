"""The ``dlrmbench report`` command: an offline HTML report (and PNG charts) from result sets."""

from __future__ import annotations

from pathlib import Path

import click

from dlrmbench import hookimpl


@click.command("report")
@click.argument("results", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--html", "html_out", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="Write the self-contained HTML report here (inline charts; opens offline).")
@click.option("--png", "png_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Also write every chart as a PNG file into this directory.")
@click.option("--baseline", type=click.Path(path_type=Path), default=None,
              help="A result set (run directory) to compute ratios and regression flags against.")
@click.option("--history", "history_out", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Also write the history page here: every case's series over the result sets, steps marked "
                   "(as 'dlrmbench history'), regressions first.")
@click.option("--by", "by", default="time", show_default=True, metavar="time|LABEL",
              help="With --history: order points by start time or by a label recorded with 'run --label'.")
def report_command(results: tuple[Path, ...], html_out: Path, png_dir: Path | None, baseline: Path | None,
                   history_out: Path | None, by: str) -> None:
    """Make a report of the result sets found under RESULTS.

    Throughput against the published reference per case, mixed-precision speed-up, scaling with
    GPU count, board energy per sample, and each case's telemetry timeline. Scaled-down cases and
    AUC on synthetic data are labelled not comparable.
    """
    from dlrmbench.report.html import write_report
    from dlrmbench.results.load import load_with_baseline
    from dlrmbench.results.store import check_output_dir, check_output_file
    from dlrmbench.safe_text import shown

    check_output_file(html_out, "--html")  # before anything is read or drawn
    if history_out is not None:
        check_output_file(history_out, "--history")
    if png_dir is not None:
        check_output_dir(png_dir, "--png", "PNG directory")
    loaded, base_set = load_with_baseline(list(results), baseline)
    for problem in loaded.problems:
        click.echo(f"Warning: {shown(problem)}", err=True)
    written = write_report(loaded.sets, html_out, base_set, png_dir)
    for problem in written.warnings:
        click.echo(f"Warning: {shown(problem)}", err=True)
    pngs = len(set(written.pngs))
    click.echo(f"Report: {written.html}" + (f" and {pngs} PNG file(s) in {png_dir}" if png_dir else ""))
    if history_out is not None:
        from dlrmbench.report.history_page import write_history
        from dlrmbench.results.history import history

        series, notes = history(loaded.sets, by=by)
        click.echo(f"History: {write_history(series, by, notes, history_out)}")


@hookimpl
def register_commands(cli: click.Group) -> None:
    cli.add_command(report_command)
