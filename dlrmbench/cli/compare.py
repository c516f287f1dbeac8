"""``dlrmbench compare``: result sets side by side, against references and a baseline; a CI gate."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

REGRESSION_EXIT = 1


@click.command("compare")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--baseline", type=click.Path(path_type=Path), default=None,
              help="A result set (run directory) to compute ratios and significance against.")
@click.option("--metric", "metric", default=None, metavar="NAME[@BATCH[:cCLIENTS]]",
              help="Compare this recorded metric instead of each case's headline (e.g. step_time_p99, auc, "
                   "energy_per_sample, inference_latency_p99 or inference_latency_p99@64; serving: "
                   "serving_latency_p99@64:c4).")
@click.option("--min-change", type=click.FloatRange(min=0), default=0.05, show_default=True,
              help="Smallest relative change that is flagged, as a fraction (0.05 = 5%).")
@click.option("--alpha", type=click.FloatRange(min=0, max=1, min_open=True, max_open=True), default=0.01,
              show_default=True, help="Significance level of the per-run test (Welch's t on log per-run values).")
@click.option("--fail-on-regression", is_flag=True,
              help=f"Exit {REGRESSION_EXIT} when a significant regression of at least --min-change is found, or "
                   "when a case cannot be compared with the baseline (needs --baseline). Inconclusive (noisy) "
                   "verdicts never fail it.")
@click.option("--allow-missing", is_flag=True,
              help="With --fail-on-regression: cases that cannot be compared (missing, failed, not recorded) "
                   "are listed but do not fail the gate.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json", "markdown"]), default="table",
              show_default=True, help="Output format.")
def compare_command(paths: tuple[Path, ...], baseline: Path | None, metric: str | None, min_change: float,
                    alpha: float, fail_on_regression: bool, allow_missing: bool, fmt: str) -> None:
    """Compare every result set found under PATHS (directories or run.json files).

    One row per case and metric, one column group per result set: the median over runs (repeats)
    with its spread and 95% confidence interval, the p50-based throughput next to the mean-based
    one, the ratio to the suite's reference value, and the ratio to --baseline with its confidence
    interval and verdict. Malformed result files are reported and skipped.

    \b
    The run (a worker process), not the step, is the unit of replication:
    verdicts test one value per run (Welch's t on log values, p < --alpha,
    default 0.01) and flag changes of at least --min-change (default 5%).
    Noisy runs (other processes' CPU, clock changes, throttling, bimodal
    steps) are left out; too few quiet runs: "inconclusive (noisy: ...)".
    One run a side cannot be judged unless 'dlrmbench doctor' stored this
    machine's run-to-run variation. Run with --repeat 3 or more.
    Exit status: 0; 1 with --fail-on-regression and a regression or a case
    that cannot be compared (unless --allow-missing); 2 bad input.
    """
    from dlrmbench.errors import UserError
    from dlrmbench.report import renderings
    from dlrmbench.results.compare import compare
    from dlrmbench.results.load import load_with_baseline
    from dlrmbench.safe_text import shown

    if fail_on_regression and baseline is None:
        raise UserError("--fail-on-regression needs --baseline RUN_DIR (the result set to compare against)")
    loaded, base_set = load_with_baseline(list(paths), baseline)
    for problem in loaded.problems:
        click.echo(f"Warning: {shown(problem)}", err=True)
    comparison = compare(loaded.sets, base_set, metric=metric, min_change=min_change, alpha=alpha)
    if fmt != "table":
        for diff in comparison.env_differences:
            click.echo(f"Warning: environments differ in {diff.key}: "
                       + "; ".join(f"{k}: {v}" for k, v in diff.values.items()), err=True)
        for where, line in comparison.noise_lines():
            click.echo(f"Warning: {where}: {line}", err=True)
        for note in comparison.timing + comparison.data:
            click.echo(f"Warning: {shown(note)}", err=True)
    if fmt == "table":
        from dlrmbench.report.terminal import print_comparison

        print_comparison(Console(), comparison)
    elif fmt == "csv":
        click.echo(renderings.to_csv(comparison), nl=False)
    elif fmt == "json":
        click.echo(renderings.to_json(comparison), nl=False)
    else:
        click.echo(renderings.to_markdown(comparison), nl=False)
    missing = comparison.not_compared()
    for row, label, reason in missing:
        click.echo(f"Not compared: {row.suite}/{row.case} {row.metric_label} in {label}: {reason}", err=True)
    if not fail_on_regression:
        return
    regressions = comparison.regressions()
    unjudged = [(row, label, cell) for row in comparison.rows for label, cell in row.cells.items()
                if cell.verdict in ("inconclusive", "untested")]
    if unjudged:
        click.echo(f"Not judged: {len(unjudged)} case(s) inconclusive or untested (noisy runs, or too few runs); "
                   "the gate passes them, so it has not checked them: "
                   + ", ".join(f"{row.suite}/{row.case} in {label}" for row, label, _ in unjudged[:5])
                   + (", ..." if len(unjudged) > 5 else ""), err=True)
    for row, label, cell in regressions:
        click.echo(f"Regression: {row.suite}/{row.case} {row.metric_label} in {label}: "
                   f"{cell.vs_baseline:.3f}x of the baseline (p={cell.p_value:.2g})", err=True)
    if regressions or (missing and not allow_missing):
        if missing and not allow_missing:
            click.echo(f"{len(missing)} case(s) could not be compared with the baseline: failing the gate "
                       "(--allow-missing to accept that)", err=True)
        raise click.exceptions.Exit(REGRESSION_EXIT)
