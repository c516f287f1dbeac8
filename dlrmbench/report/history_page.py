"""The history page: every series over its labels, confirmed steps marked, regressions first.

One self-contained HTML file (inline CSS and SVG charts, no scripts), written by ``dlrmbench report
--history PAGE``. Each series gets a chart (points: the median of each point's runs, whiskers: its lowest
and highest run; noisy runs hollow; a dashed line at each step, red for a regression, green for an
improvement, grey for an unconfirmed candidate) and a table of its steps with their verdicts.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from dlrmbench.report import charts
from dlrmbench.report.html import CSS
from dlrmbench.results.history import Series
from dlrmbench.results.store import atomic_write_text

STEP_COLOR = {"regression": "#b00020", "improvement": "#1b7f2a"}


def _e(value: Any) -> str:
    return html.escape(str(value))


def series_chart(series: Series) -> Any:
    """One series: median per point with its run range, noisy runs hollow, steps as dashed lines."""
    fig = charts._figure(9.0, 3.2, left=0.9)
    ax = fig.add_subplot(1, 1, 1)
    xs = list(range(len(series.points)))
    medians = [p.value for p in series.points]
    lows = [m - min(r.value for r in p.runs) for m, p in zip(medians, series.points)]
    highs = [max(r.value for r in p.runs) - m for m, p in zip(medians, series.points)]
    ax.errorbar(xs, medians, yerr=[lows, highs], fmt="o-", color=charts.COLORS[0], ecolor="#999999", capsize=3,
                lw=1.2, ms=4)
    noisy = [(x, r.value) for x, p in zip(xs, series.points) for r in p.runs if r.noise]
    if noisy:
        ax.scatter([n[0] for n in noisy], [n[1] for n in noisy], facecolors="none", edgecolors="#e0a800", s=30,
                   label="noisy run")
        ax.legend(loc="best", fontsize=8)
    for step in series.steps:
        ax.axvline(step.index - 0.5, color=STEP_COLOR.get(step.kind, "#999999"), ls="--", lw=1.5)
    ax.set_xticks(xs)
    ax.set_xticklabels([charts.literal(p.label[:16]) for p in series.points], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(charts.literal(series.unit or series.metric))
    ax.set_title(charts.literal(f"{series.suite}/{series.case}: {series.metric_label}"), fontsize=10)
    return fig


def _steps_table(series: Series) -> str:
    if series.note:
        return f"<p class='note'>{_e(series.note)}</p>"
    if not series.steps:
        return "<p class='note'>No step found.</p>"
    rows = "".join(
        f"<tr><td class='l'>{_e(s.before)}</td><td class='l'>{_e(s.after)}</td><td>{s.ratio:.3f}x</td>"
        f"<td class='l'><span class='{_e(s.kind) if s.kind in STEP_COLOR else 'nc'}'>{_e(s.kind)}</span></td>"
        f"<td class='l'>{_e(s.verdict.text)}</td></tr>" for s in series.steps)
    return ("<table><tr><th class='l'>before</th><th class='l'>after</th><th>ratio</th><th class='l'>verdict</th>"
            f"<th class='l'>why</th></tr>{rows}</table>")


def render_history(series: list[Series], by: str, notes: list[str]) -> str:
    """The page's HTML text; ``series`` in the order given (``history`` puts regressions first)."""
    open_regressions = [s for s in series if s.open_regression]
    parts = [f"<h1>dlrmbench history</h1><p>{len(series)} series, points by {_e(by)}; "
             f"{len(open_regressions)} with a regression not recovered since.</p>"]
    if notes:
        parts.append("<div class='warn'><b>Left out:</b><ul>" + "".join(f"<li>{_e(n)}</li>" for n in notes)
                     + "</ul></div>")
    parts.append("<p class='note'>Steps: candidates from change-point detection (ruptures, PELT), each confirmed "
                 "with compare's per-run test of the runs either side; dashed lines mark them (red regression, "
                 "green improvement, grey unconfirmed). Whiskers: lowest and highest run of a point.</p>")
    for s in series:
        title = f"{s.suite}/{s.case} — {s.metric_label}"
        flag = " <span class='regression'>regression</span>" if s.open_regression else ""
        parts.append(f"<h2>{_e(title)}{flag}</h2><p class='note'>machine {_e(s.machine)}, {len(s.points)} point(s)</p>")
        if s.points:
            parts.append(f"<figure>{charts.to_svg(series_chart(s))}</figure>")
        parts.append(_steps_table(s))
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>dlrmbench history</title>"
            f"<link rel='icon' href='data:,'><style>{CSS}</style></head><body>{''.join(parts)}</body></html>\n")


def write_history(series: list[Series], by: str, notes: list[str], out: Path) -> Path:
    atomic_write_text(out, render_history(series, by, notes))
    return out
