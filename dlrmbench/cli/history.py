"""``dlrmbench history``: each case and metric as a series over result sets, with confirmed steps."""

from __future__ import annotations

import json
from pathlib import Path

import click

REGRESSION_EXIT = 1


@click.command("history")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--metric", default=None, metavar="NAME[@BATCH[:cCLIENTS]]",
              help="Follow this recorded metric instead of each case's headline metric.")
@click.option("--by", "by", default="time", show_default=True, metavar="time|LABEL",
              help="Order result sets by start time, or pool and order them by a label recorded with "
                   "'run --label LABEL=VALUE' (e.g. --by commit): one point per value.")
@click.option("--min-change", type=click.FloatRange(min=0), default=0.05, show_default=True,
              help="Smallest relative step that is confirmed, as a fraction.")
@click.option("--fail-on-regression", is_flag=True,
              help=f"Exit {REGRESSION_EXIT} when a series' most recent confirmed step is a regression.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def history_command(paths: tuple[Path, ...], metric: str | None, by: str, min_change: float,
                    fail_on_regression: bool, fmt: str) -> None:
    """Follow every case's metric over the result sets under PATHS, one series per machine.

    Candidate steps come from change-point detection (ruptures, PELT); each is confirmed with the same
    per-run test as compare (the runs either side of the step, noisy runs left out), and named by the
    labels either side. Regressions first.
    """
    from dlrmbench.results.history import history
    from dlrmbench.results.load import load_results

    loaded = load_results(list(paths))
    for problem in loaded.problems:
        click.echo(f"Warning: {problem}", err=True)
    series, notes = history(loaded.sets, metric, by, min_change)
    for note in notes:
        click.echo(f"Warning: left out {note}", err=True)
    if fmt == "json":
        click.echo(json.dumps(_document(series, by), indent=2))
    else:
        for line in history_lines(series, by):
            click.echo(line)
    open_regressions = [s for s in series if s.open_regression]
    if fail_on_regression and open_regressions:
        for s in open_regressions:
            step = s.open_regression
            click.echo(f"Regression: {s.suite}/{s.case} {s.metric_label}: {step.ratio:.3f}x between {step.before} "
                       f"and {step.after}", err=True)
        raise click.exceptions.Exit(REGRESSION_EXIT)


def history_lines(series: list, by: str) -> list[str]:
    """The history as plain lines: one block per series, one line per step."""
    from dlrmbench.report.formatting import fmt_value

    lines = [f"dlrmbench history (points by {by})"]
    for s in series:
        unit = f" [{s.unit}]" if s.unit else ""
        lines.append(f"{s.suite}/{s.case} - {s.metric_label}{unit}, machine {s.machine}: {len(s.points)} point(s)")
        if s.points:
            lines.append(f"  from {s.points[0].label} ({fmt_value(s.points[0].value, s.unit)}) to {s.points[-1].label} "
                         f"({fmt_value(s.points[-1].value, s.unit)})")
        if s.note:
            lines.append(f"  {s.note}")
        elif not s.steps:
            lines.append("  no step found")
        for step in s.steps:
            name = step.kind.upper() if step.kind in ("regression", "improvement") else "unconfirmed candidate"
            lines.append(f"  {name} between {step.before} and {step.after}: {step.ratio:.3f}x; {step.verdict.text}")
    return lines


def _document(series: list, by: str) -> dict:
    return {"schema": "dlrmbench.history", "schema_version": 1, "by": by, "series": [{
        "machine": s.machine, "suite": s.suite, "case": s.case, "metric": s.metric, "batch_size": s.batch_size,
        "concurrency": s.concurrency, "unit": s.unit, "higher_is_better": s.higher_is_better, "note": s.note,
        "points": [{"label": p.label, "started_at": p.started_at, "value": p.value, "runs": len(p.runs),
                    "noisy_runs": sum(bool(r.noise) for r in p.runs), "result_sets": p.sets} for p in s.points],
        "steps": [{"before": st.before, "after": st.after, "index": st.index, "ratio": st.ratio, "verdict": st.kind,
                   "text": st.verdict.text, "p_value": st.verdict.test.p_value if st.verdict.test else None}
                  for st in s.steps],
    } for s in series]}
