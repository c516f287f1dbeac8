"""The HTML report: one self-contained file (inline CSS and SVG charts, no scripts, no network fetches).

Sections: the result sets and their environments (with a warning where they differ), noise warnings,
a summary table per case (median, 95% CI, p50-based figure, ratios, significance), throughput against
the reference (training and inference on separate axes), the ratio to the baseline with its CI,
inference latency against batch size, mixed-precision speed-up, scaling with GPU count, energy per
sample, and per case its step times (histogram and time against step) and telemetry timeline. The
same charts can be written as PNG files, one file per chart, never two charts to one name.

Names are escaped for HTML and drawn literally in the charts (a ``$`` is not mathtext).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from dlrmbench.report import charts
from dlrmbench.report.analysis import gpu_scaling, precision_speedups
from dlrmbench.report.formatting import fmt_energy, fmt_pct, fmt_ratio, fmt_value
from dlrmbench.results.compare import Comparison, compare, environment_of
from dlrmbench.results.load import ResultSet
from dlrmbench.results.store import atomic_write_text

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1300px; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: right; vertical-align: top; }
th { background: #f3f3f3; } td.l, th.l { text-align: left; }
.warn { background: #fff4d6; border-left: 4px solid #e0a800; padding: 0.5em 1em; }
.note { color: #555; font-size: 0.9em; }
.regression { color: #b00020; font-weight: bold; } .improvement { color: #1b7f2a; font-weight: bold; }
.nc { color: #777; font-style: italic; }
figure { margin: 1em 0; } svg { max-width: 100%; height: auto; } .wide { overflow-x: auto; }
"""


@dataclass
class Report:
    """The written files."""

    html: Path
    pngs: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _e(value: Any) -> str:
    return html.escape(str(value))


def _environment_table(sets: list[ResultSet]) -> str:
    keys = ["gpus", "nvidia_driver", "torch", "cuda", "python", "cpu"]
    envs = {s.label: environment_of(s) for s in sets}
    head = "".join(f"<th class='l'>{_e(s.label)}</th>" for s in sets)
    body = []
    for key in keys + ["dlrmbench", "git"]:
        cells = []
        for s in sets:
            env = s.manifest.environment or {}
            if key == "dlrmbench":
                value = s.manifest.dlrmbench_version
            elif key == "git":
                git = env.get("git") or {}
                value = f"{(git.get('commit') or '?')[:10]}{' (dirty)' if git.get('dirty') else ''}"
            else:
                value = envs[s.label].get(key)
            cells.append(f"<td class='l'>{_e(value)}</td>")
        body.append(f"<tr><th class='l'>{_e(key)}</th>{''.join(cells)}</tr>")
    return f"<table><tr><th class='l'>property</th>{head}</tr>{''.join(body)}</table>"


def _summary_table(comparison: Comparison) -> str:
    head = ("<tr><th class='l'>case</th><th class='l'>result set</th><th class='l'>status</th><th>metric</th>"
            "<th>median</th><th>95% CI (samples)</th><th>p50-based</th><th>spread (n)</th><th>reference</th>"
            "<th>vs ref</th><th>vs baseline [95% CI]</th><th>p</th>"
            "<th>AUC</th><th>energy / sample</th><th class='l'>note</th></tr>")
    rows = []
    for row in comparison.rows:
        for label, cell in row.cells.items():
            flag = f" <span class='{cell.flag}'>{cell.flag}</span>" if cell.flag else (
                f" <span class='nc'>{_e(cell.verdict)}</span>" if cell.verdict else "")
            if cell.auc is None:
                auc = "—"
            elif cell.auc_vs_reference is not None:
                auc = f"{_e(cell.auc_text)} ({fmt_ratio(cell.auc_vs_reference)} of {row.reference_auc})"
            elif row.auc_note:
                auc = f"{_e(cell.auc_text)} <span class='nc'>(synthetic data: not comparable)</span>"
            else:
                auc = f"{_e(cell.auc_text)}"
            vs_ref = fmt_ratio(cell.vs_reference) if cell.comparable else "<span class='nc'>not comparable</span>"
            note = "; ".join(n for n in (cell.note, cell.reason) if n)
            ci = (f"{fmt_value(cell.ci[0], row.unit)} to {fmt_value(cell.ci[1], row.unit)} ({cell.samples.describe()})"
                  if cell.ci and cell.samples else "—")
            ratio_ci = f" [{cell.ratio_ci[0]:.3f}-{cell.ratio_ci[1]:.3f}]" if cell.ratio_ci else ""
            p_value = f"{cell.p_value:.2g}" if cell.p_value is not None else "—"
            rows.append(
                f"<tr><td class='l'>{_e(row.suite)}/{_e(row.case)}</td><td class='l'>{_e(label)}"
                f"{' (baseline)' if label == comparison.baseline else ''}</td><td class='l'>{_e(cell.status)}</td>"
                f"<td>{_e(row.metric_label)}</td><td>{_e(fmt_value(cell.value, row.unit))} {_e(row.unit)}</td>"
                f"<td>{_e(ci)}</td><td>{_e(fmt_value(cell.p50_value, row.unit))}</td>"
                f"<td>{_e(fmt_pct(cell.rel_spread))} ({cell.repeats})</td><td>{_e(fmt_value(row.reference, row.unit))}</td>"
                f"<td>{vs_ref}</td><td>{_e(fmt_ratio(cell.vs_baseline))}{_e(ratio_ci)}{flag}</td><td>{_e(p_value)}</td>"
                f"<td>{auc}</td>"
                f"<td>{_e(fmt_energy(cell.energy_per_sample))}</td><td class='l'>{_e(note)}</td></tr>")
    return f"<div class='wide'><table>{head}{''.join(rows)}</table></div>"


def _with_unit(value: float | None, unit: str) -> str:
    return "—" if value is None else f"{fmt_value(value, unit)} {unit}"


def _telemetry_table(sets: list[ResultSet]) -> str:
    head = ("<tr><th class='l'>case</th><th class='l'>result set</th><th>mean power</th><th>peak power</th>"
            "<th>peak GPU memory</th><th class='l'>throttled</th><th>host CPU</th><th>worker RSS</th>"
            "<th class='l'>telemetry</th></tr>")
    rows = []
    for s in sets:
        for r in s.results:
            t = r.telemetry or {}
            if not t.get("enabled"):
                continue
            f = t.get("summary") or {}
            reasons = ", ".join(f"{k} {v:.0%}" for k, v in (f.get("throttle_reasons") or {}).items())
            throttled = ("yes: " + reasons) if f.get("throttled") else ("no" if "throttled" in f else "—")
            gib = 2**30
            source = "GPU + host" if (t.get("gpu") or {}).get("recorded") else \
                f"host only: {(t.get('gpu') or {}).get('reason') or t.get('error') or 'no GPU'}"
            rows.append(
                f"<tr><td class='l'>{_e(r.suite)}/{_e(r.case)}{f' #{r.repeat + 1}' if r.repeat else ''}</td>"
                f"<td class='l'>{_e(s.label)}</td><td>{_e(_with_unit(f.get('mean_power_w'), 'W'))}</td>"
                f"<td>{_e(_with_unit(f.get('peak_power_w'), 'W'))}</td>"
                f"<td>{_e(_with_unit((f.get('peak_memory_bytes') or 0) / gib or None, 'GiB'))}</td>"
                f"<td class='l'>{_e(throttled)}</td><td>{_e(_with_unit(f.get('host_mean_cpu_pct'), '%'))}</td>"
                f"<td>{_e(_with_unit((f.get('worker_peak_rss_bytes') or 0) / gib or None, 'GiB'))}</td>"
                f"<td class='l'>{_e(source)}</td></tr>")
    return f"<div class='wide'><table>{head}{''.join(rows)}</table></div>" if rows else \
        "<p class='note'>No telemetry recorded.</p>"


def _figure_html(fig: Any, name: str, caption: str, png_dir: Path | None, pngs: list[Path]) -> str:
    svg = charts.to_svg(fig)
    if png_dir is not None:
        path = png_dir / f"{_unique(name, {p.name for p in pngs})}.png"
        charts.to_png(fig, path)
        pngs.append(path)
    return f"<figure>{svg}<figcaption class='note'>{_e(caption)}</figcaption></figure>"


def _safe(name: str) -> str:
    """A file-name part for ``name``: kept as is when it is plain, else its safe characters plus a hash of
    the original, so that names differing only in ``+``, ``=``, ``_`` or markup never share a file."""
    import hashlib

    safe = "".join(c if c.isalnum() or c in "-." else "_" for c in name)[:80]
    if safe == name:
        return safe
    return f"{safe}-{hashlib.sha256(name.encode('utf-8', 'surrogatepass')).hexdigest()[:8]}"


def _unique(stem: str, taken: set[str]) -> str:
    """``stem``, or ``stem-2``, ``stem-3``... when a file of that name was already written by this report."""
    candidate, n = stem, 1
    while f"{candidate}.png" in taken:
        n += 1
        candidate = f"{stem}-{n}"
    return candidate


#: Rows one summary chart draws and per-case charts (step times, telemetry) one report draws: past these a
#: chart is unreadable and each costs about a second, so a report of thousands of cases would take
#: hours. Every case stays in the tables; the notes say what was left out of the charts.
MAX_CHART_ROWS = 50
MAX_CASE_CHARTS = 12


def _charted(comparison: Comparison) -> tuple[Comparison, str | None]:
    """``comparison`` cut to the rows the summary charts draw (flagged ones first, then the largest changes
    against the baseline, else file order), and a note saying how many were left out."""
    if len(comparison.rows) <= MAX_CHART_ROWS:
        return comparison, None

    def weight(row: Any) -> tuple[int, float]:
        cells = list(row.cells.values())
        flagged = any(c.flag for c in cells)
        change = max((abs(c.vs_baseline - 1) for c in cells if c.vs_baseline is not None), default=0.0)
        return (0 if flagged else 1, -change)

    order = sorted(range(len(comparison.rows)), key=lambda i: weight(comparison.rows[i]))
    kept = sorted(order[:MAX_CHART_ROWS])
    note = (f"The summary charts draw {MAX_CHART_ROWS} of the {len(comparison.rows)} rows (flagged ones first, then "
            "the largest changes against the baseline); every row is in the summary table.")
    return replace(comparison, rows=[comparison.rows[i] for i in kept]), note


def render(sets: list[ResultSet], baseline: ResultSet | None = None, png_dir: Path | None = None) -> tuple[str, list[Path]]:
    """The report's HTML text, and the PNG files written to ``png_dir`` (if given)."""
    document, pngs, _ = _render(sets, baseline, png_dir)
    return document, pngs


def _render(sets: list[ResultSet], baseline: ResultSet | None,
            png_dir: Path | None) -> tuple[str, list[Path], Comparison]:
    comparison = compare(sets, baseline)
    pngs: list[Path] = []
    parts = [f"<h1>dlrmbench report</h1><p>{len(sets)} result set(s): "
             + ", ".join(_e(s.label) + (" (baseline)" if s is baseline else "") for s in sets) + "</p>"]
    parts.append("<h2>Environment</h2>" + _environment_table(sets))
    if comparison.env_differences:
        items = "".join(f"<li><b>{_e(d.key)}</b>: " + "; ".join(f"{_e(k)}: {_e(v)}" for k, v in d.values.items())
                        + "</li>" for d in comparison.env_differences)
        parts.append(f"<div class='warn'><b>Warning:</b> the result sets were measured in different environments; "
                     f"differences may come from these, not from the code.<ul>{items}</ul></div>")
    notes = []
    cells = [c for r in comparison.rows for c in r.cells.values()]
    if any(not c.comparable and not c.not_comparable for c in cells):
        notes.append("Scaled-down cases (--scale-down) are not comparable with the published reference: "
                     "they are shown without reference ratios.")
    for reason in dict.fromkeys(c.not_comparable for c in cells if not c.comparable and c.not_comparable):
        notes.append(f"Not comparable with the published reference, shown without reference ratios: {reason}.")
    if any(r.auc_note for r in comparison.rows):
        notes.append("Cases on synthetic data: AUC is not comparable with the reference; throughput is, unless "
                     "a note above says otherwise.")
    if comparison.baseline:
        notes.append(f"Verdicts: {comparison.rule}.")
    notes.append("Energy is board energy from NVML's energy counter (GPU boards only, not wall-socket energy).")
    parts.append("<ul class='note'>" + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>")
    noise = comparison.noise_lines() + [(kind, note) for kind, notes in (("timing", comparison.timing),
                                                                          ("data", comparison.data)) for note in notes]
    if noise:
        items = "".join(f"<li><b>{_e(where)}</b>: {_e(what)}</li>" for where, what in noise)
        parts.append(f"<div class='warn'><b>Warning:</b> noisy runs are left out of verdicts; a verdict with too "
                     f"few quiet runs is inconclusive.<ul>{items}</ul></div>")
    parts.append("<h2>Summary</h2>" + _summary_table(comparison))
    full, (comparison, cut) = comparison, _charted(comparison)
    if cut:
        parts.append(f"<p class='note'>{_e(cut)}</p>")

    def section(title: str, fig: Any, name: str, caption: str, empty: str) -> None:
        body = _figure_html(fig, name, caption, png_dir, pngs) if fig is not None else f"<p class='note'>{_e(empty)}</p>"
        parts.append(f"<h2>{_e(title)}</h2>{body}")

    with_reference = any(row.reference for row in comparison.rows)  # no "published reference" without one
    section("Throughput against the reference" if with_reference else "Throughput", charts.throughput_chart(comparison),
            "throughput", "Median throughput over repeats (labelled); whiskers: min-max"
            + ("; diamonds: published reference" if with_reference else "")
            + ". Training and inference on separate axes.", "No throughput measured.")
    if comparison.baseline:
        section("Against the baseline", charts.baseline_delta_chart(comparison), "baseline_delta",
                "Ratio to the baseline with its 95% confidence interval over runs; red: significant regression, "
                "green: significant improvement, grey: not flagged; shaded: within --min-change.",
                "No case was measured in both the baseline and another result set.")
    section("Inference latency against batch size", charts.latency_chart(comparison, sets), "inference_latency",
            "End-to-end latency per batch: p50 (solid) and p99 (dashed, labelled), first repeat.",
            "No inference cases.")
    section("Server QPS search (MLPerf LoadGen)", charts.loadgen_search_chart(sets), "loadgen_search",
            "LoadGen's p50 (dotted), p90 (dashed) and p99 (solid) latency per run of each Server search against "
            "the completed samples/s; filled points: VALID runs.", "No Server QPS search.")
    speedups = precision_speedups(comparison)[:MAX_CHART_ROWS]
    section("Mixed precision speed-up", charts.speedup_chart(speedups), "precision_speedup",
            "Throughput of the mixed-precision case over the full-precision case with the same configuration.",
            "No pair of cases differs only in precision.")
    section("Scaling with GPU count", charts.scaling_chart(gpu_scaling(comparison)), "gpu_scaling",
            "Throughput of cases that differ only in GPU count; dashed: published reference.",
            "No cases differ only in GPU count.")
    section("Energy per sample", charts.energy_chart(comparison), "energy_per_sample",
            "Board energy per sample from NVML energy-counter deltas over the measured window.",
            "No energy measured (no NVML-visible GPU in these runs; see the telemetry table).")
    parts.append("<h2>Step times</h2>")
    step_charts = skipped_steps = 0
    for s in sets:
        seen_steps: set[str] = set()
        for r in s.results:
            if r.case in seen_steps or r.status != "ok":
                continue
            if step_charts >= MAX_CASE_CHARTS:
                skipped_steps += 1
                seen_steps.add(r.case)
                continue
            fig = charts.step_time_chart(r)
            if fig is None:
                continue
            seen_steps.add(r.case)
            step_charts += 1
            parts.append(f"<h3>{_e(r.suite)}/{_e(r.case)} — {_e(s.label)}</h3>")
            parts.append(_figure_html(fig, f"steps_{_safe(s.manifest.run_id)}_{_safe(r.case)}",
                                      "Step times of the first repeat: histogram of the measured window (p50 and "
                                      "mean marked) and time against step (warm-up shaded).", png_dir, pngs))
    if not step_charts:
        parts.append("<p class='note'>No step times recorded.</p>")
    if skipped_steps:
        parts.append(f"<p class='note'>Step times drawn for the first {MAX_CASE_CHARTS} cases; {skipped_steps} more "
                     "are in their result files (report fewer result sets to draw them).</p>")
    parts.append("<h2>Telemetry</h2>" + _telemetry_table(sets))
    timelines = skipped_timelines = 0
    for s in sets:
        seen = set()
        for r in s.results:
            if r.case in seen:
                continue
            if timelines >= MAX_CASE_CHARTS:
                skipped_timelines += 1
                seen.add(r.case)
                continue
            fig = charts.timeline_chart(r)
            if fig is None:
                continue
            seen.add(r.case)
            timelines += 1
            parts.append(f"<h3>{_e(r.suite)}/{_e(r.case)} — {_e(s.label)}</h3>")
            parts.append(_figure_html(fig, f"timeline_{_safe(s.manifest.run_id)}_{_safe(r.case)}",
                                      "Telemetry timeline (first repeat).", png_dir, pngs))
    if skipped_timelines:
        parts.append(f"<p class='note'>Telemetry timelines drawn for the first {MAX_CASE_CHARTS} cases; "
                     f"{skipped_timelines} more are in their result files.</p>")
    document = ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
                "<meta name='viewport' content='width=device-width, initial-scale=1'>"
                "<link rel='icon' href='data:,'><title>dlrmbench report</title>"
                f"<style>{CSS}</style></head><body>{''.join(parts)}</body></html>\n")
    return document, pngs, full


def write_report(sets: list[ResultSet], out: Path, baseline: ResultSet | None = None,
                 png_dir: Path | None = None) -> Report:
    """Render and write the report atomically; PNG files go to ``png_dir`` when given."""
    document, pngs, comparison = _render(sets, baseline, png_dir)
    atomic_write_text(out, document)
    warnings = [f"{where}: {line}" for where, line in comparison.noise_lines()]
    return Report(html=out, pngs=pngs, warnings=warnings)
