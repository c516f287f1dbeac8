"""Rich terminal views built from results only: the run summary and the comparison table.

Nothing is ever cropped: names and numbers get their full width (no wrapping inside a number or a
name); when the table does not fit the terminal (or the 80 columns a pipe gets), the same content is
printed as a plain stacked list instead. Case names are shown literally: they are put into
``rich.text.Text`` objects (never parsed as markup) and the stacked layout prints plain text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from dlrmbench.report.fit import fits, print_plain  # noqa: F401 (callers import them from here too)
from dlrmbench.report.formatting import fmt_energy, fmt_pct, fmt_ratio, fmt_value
from dlrmbench.comparability import why_not_comparable
from dlrmbench.results.compare import Cell, Comparison, Row, reference_value
from dlrmbench.results.schema import CaseResult, RunManifest

STATUS_STYLE = {"ok": "green", "skipped": "yellow", "failed": "red", "timed_out": "red", "interrupted": "magenta"}


def _case_label(r: CaseResult) -> str:
    return r.case + (f" #{r.repeat + 1}" if r.repeat else "")


def loadgen_line(rec: dict[str, Any]) -> str:
    """One LoadGen run in a line: scenario, its metric, LoadGen's verdict."""
    if rec.get("samples_per_s") is not None:
        what = f"{fmt_value(rec['samples_per_s'], 'samples/s')} samples/s"
        if rec.get("scenario") == "Server":
            what += f" at target {fmt_value(rec.get('target_qps'), 'QPS')} QPS"
    elif rec.get("scenario_latency_ms") is not None:
        what = f"{fmt_value(rec['scenario_latency_ms'], 'ms')} latency"
    else:
        what = "accuracy run" if rec.get("mode") == "AccuracyOnly" else (rec.get("mode") or "")
    verdict = "VALID" if rec.get("valid") else ("INVALID" if rec.get("valid") is False else "-")
    return f"LoadGen {rec.get('scenario')}: {what}, {verdict}"


def _run_rows(results: list[CaseResult]) -> list[dict[str, Any]]:
    rows = []
    for r in results:
        thr = r.value("train_throughput")
        thr50 = r.value("train_throughput_p50")
        ref, _ = reference_value(r, "train_throughput")
        p50, p99 = r.value("step_time_p50"), r.value("step_time_p99")
        note = r.reason or why_not_comparable(r.config) or ""
        m = r.metric("train_throughput")
        if r.status == "ok" and m is not None and "partial" in m.description:
            note = "partial"
        inference = []
        for rec in r.inference:
            if "verdict" in rec:  # a LoadGen run (mode serve with a scenario)
                inference.append(loadgen_line(rec))
                continue
            if "concurrency" in rec:  # a serving cell (mode serve)
                served = rec.get("throughput_samples_per_s")
                inference.append(f"{fmt_value(served, 'samples/s')} @bs {rec.get('batch_size')}, "
                                 f"{rec.get('concurrency')} {'client' if rec.get('concurrency') == 1 else 'clients'}")
                continue
            e2e = rec.get("end_to_end") or {}
            bs = rec.get("batch_size")
            p50_thr = r.value("inference_throughput_p50", bs)
            inference.append(f"{e2e.get('throughput', 0):,.0f}" + (f" (p50 {p50_thr:,.0f})" if p50_thr else "")
                             + f" @bs {bs}")
        rows.append({
            "case": _case_label(r),
            "status": r.status,
            "train samples/s (mean / p50)": (f"{fmt_value(thr, 'samples/s')} / {fmt_value(thr50, 'samples/s')}"
                                              if thr is not None else "—"),
            "vs ref": fmt_ratio(thr / ref if thr and ref else None) if ref else None,
            "step p50 / p99 ms": f"{fmt_value(p50, 'ms')} / {fmt_value(p99, 'ms')}" if p50 is not None else "—",
            "AUC": _auc(r),
            "inference samples/s mean (p50)": "\n".join(inference) or "—",
            "note": note,
        })
    return rows


def _auc(r: CaseResult) -> str:
    """The AUC with its 95% half-width and the samples it was measured on (an AUC from 50 rows says so)."""
    from dlrmbench.results.auc_interval import auc_text

    auc = r.value("auc")
    return "—" if auc is None else auc_text(auc, r.evaluations[-1] if r.evaluations else None)


RUN_COLUMNS = ("case", "status", "train samples/s (mean / p50)", "vs ref", "step p50 / p99 ms", "AUC",
               "inference samples/s mean (p50)", "note")


def run_table(title: str, results: list[CaseResult]) -> Table:
    """One row per case of a run: status, headline numbers, and the reason for anything not ok.

    Numbers and names never wrap (a folded number misreads); the note column takes what width is
    left. The reference and note columns appear only when some case has one.
    """
    rows = _run_rows(results)
    columns = [c for c in RUN_COLUMNS if c not in ("vs ref", "note") or any(row[c] for row in rows)]
    table = Table(title=Text(title), title_justify="left", expand=False)
    for column in columns:
        justify = "left" if column in ("case", "status", "note") else "right"
        table.add_column(column, justify=justify, no_wrap=column != "note", overflow="fold",
                         min_width=20 if column == "note" else None)
    for row, r in zip(rows, results):
        cells = [Text(row[c] if row[c] is not None else "—") for c in columns]
        cells[1].stylize(STATUS_STYLE.get(r.status, "white"))
        table.add_row(*cells)
    return table


def run_lines(title: str, results: list[CaseResult]) -> list[str]:
    """The run summary as a plain stacked list (for narrow terminals and logs)."""
    rows = _run_rows(results)
    lines = [title]
    for row in rows:
        lines.append(f"- {row['case']}: {row['status']}")
        for column in RUN_COLUMNS[2:]:
            value = row[column]
            if value and value != "—":
                for i, part in enumerate(str(value).split("\n")):
                    lines.append(f"    {column if i == 0 else ' ' * len(column)}: {part}")
    return lines


def _ci_text(ci: tuple[float, float] | None, unit: str) -> str:
    return f"{fmt_value(ci[0], unit)} to {fmt_value(ci[1], unit)}" if ci else ""


def cell_lines(row: Row, cell: Cell | None, baseline: bool = False) -> list[tuple[str, str]]:
    """(text, style) lines describing one cell: value, CI, p50-based figure, ratios, significance."""
    if cell is None:
        return [("not run", "dim")]
    if cell.status != "ok":
        return [(cell.status, STATUS_STYLE.get(cell.status, "white"))]
    text = fmt_value(cell.value, row.unit)
    if cell.rel_spread is not None:
        text += f" {fmt_pct(cell.rel_spread)}"
    text += f" (n={cell.repeats})" if cell.repeats > 1 else ""
    out = [(text, "")]
    if cell.ci is not None and cell.samples is not None:
        out.append((f"95% CI {_ci_text(cell.ci, row.unit)} ({cell.samples.describe()})", "dim"))
    if cell.p50_value is not None:
        out.append((f"p50-based {fmt_value(cell.p50_value, row.unit)}", ""))
    if cell.vs_reference is not None:
        out.append((f"vs ref {fmt_ratio(cell.vs_reference)}", ""))
    elif not cell.comparable:
        out.append((cell.comparability_note, "dim"))
    if cell.vs_baseline is not None:
        line = f"vs base {fmt_ratio(cell.vs_baseline)}"
        if cell.ratio_ci is not None:
            line += f" [{cell.ratio_ci[0]:.3f}-{cell.ratio_ci[1]:.3f}]"
        out.append((line, {"regression": "red", "improvement": "green"}.get(cell.flag or "", "")))
    if row.metric != "auc" and cell.auc is not None:
        auc = f"AUC {cell.auc_text or f'{cell.auc:.4f}'}"
        if cell.auc_vs_reference is not None:
            auc += f" ({fmt_ratio(cell.auc_vs_reference)} ref)"
        elif row.auc_note:
            auc += " (synthetic: not comparable)"
        out.append((auc, ""))
    if cell.energy_per_sample is not None:
        out.append((f"{fmt_energy(cell.energy_per_sample)} board", ""))
    if cell.note and cell.comparable:
        style = {"regression": "red", "improvement": "green", "inconclusive": "yellow"}.get(cell.verdict or "", "dim")
        out.append((cell.note, style))
    return out


def _metric_label(row: Row) -> str:
    return row.metric_label + (f" [{row.unit}]" if row.unit else "")


def comparison_table(comparison: Comparison) -> Table:
    """Cases as rows; per result set the value, its CI and spread, ratios and the significance verdict."""
    table = Table(title=Text("dlrmbench compare"), title_justify="left")
    table.add_column("case", no_wrap=True)
    table.add_column("metric", no_wrap=True)
    with_reference = any(row.reference is not None for row in comparison.rows)  # no column of dashes
    if with_reference:
        table.add_column("reference", justify="right", no_wrap=True)
    for label in comparison.sets:
        table.add_column(Text(label + (" (baseline)" if label == comparison.baseline else "")), justify="right",
                         no_wrap=True)
    for row in comparison.rows:
        cells = []
        for label in comparison.sets:
            text = Text()
            for i, (line, style) in enumerate(cell_lines(row, row.cells.get(label))):
                text.append(("\n" if i else "") + line, style=style or None)
            cells.append(text)
        reference = [Text(fmt_value(row.reference, row.unit))] if with_reference else []
        table.add_row(Text(f"{row.suite}/{row.case}"), Text(_metric_label(row)), *reference, *cells)
    return table


def comparison_lines(comparison: Comparison) -> list[str]:
    """The comparison as a plain stacked list: one block per case and metric, one line group per set."""
    lines = ["dlrmbench compare"]
    for row in comparison.rows:
        ref = f" (reference {fmt_value(row.reference, row.unit)})" if row.reference is not None else ""
        lines.append(f"{row.suite}/{row.case} - {_metric_label(row)}{ref}")
        for label in comparison.sets:
            lines.append(f"  {label}{' (baseline)' if label == comparison.baseline else ''}:")
            lines.extend(f"    {line}" for line, _ in cell_lines(row, row.cells.get(label)))
    return lines


def print_run(console: Console, title: str, results: list[CaseResult]) -> None:
    table = run_table(title, results)
    if fits(console, table):
        console.print(table)
    else:
        print_plain(console, run_lines(title, results))
    from dlrmbench.results.noise import case_noise_lines

    print_noise(console, case_noise_lines(results))


def print_noise(console: Console, warnings: list[tuple[str, str]]) -> None:
    """``Warning: <where>: <what>`` lines, one per case; plain text, never cropped."""
    for where, what in warnings:
        console.print(Text("Warning: ", style="yellow") + Text(f"{where}: {what}"), soft_wrap=True)


def print_comparison(console: Console, comparison: Comparison, noise: bool = True) -> None:
    """The comparison (table or stacked list), noise warnings (unless ``noise`` is False: already printed),
    environment differences and the flag rule."""
    table = comparison_table(comparison)
    if fits(console, table):
        console.print(table)
    else:
        print_plain(console, comparison_lines(comparison))
    if noise:
        print_noise(console, comparison.noise_lines())
    print_noise(console, [("timing", note) for note in comparison.timing])
    print_noise(console, [("data", note) for note in comparison.data])
    if comparison.env_differences:
        console.print("[yellow]Warning:[/] the result sets were measured in different environments; "
                      "differences may come from these, not from the code:", soft_wrap=True)
        for diff in comparison.env_differences:
            values = "; ".join(f"{label}: {value}" for label, value in diff.values.items())
            console.print(Text(f"  {diff.key}", style="yellow") + Text(f": {values}"), soft_wrap=True)
    if comparison.baseline is not None:
        console.print(Text(f"Verdicts: {comparison.rule}.", style="dim"), soft_wrap=True)
    if any(r.auc_note for r in comparison.rows):
        console.print("[dim]AUC on synthetic data is not comparable with the reference (run with --dataset-path "
                      "for Criteo).[/]", soft_wrap=True)
    cells = [c for r in comparison.rows for c in r.cells.values()]
    if any(not c.comparable and not c.not_comparable for c in cells):
        console.print("[dim]Scaled-down cases (--scale-down) are not comparable with the reference.[/]", soft_wrap=True)
    for reason in dict.fromkeys(c.not_comparable for c in cells if not c.comparable and c.not_comparable):
        console.print(Text(f"Not comparable with the reference: {reason}.", style="dim"), soft_wrap=True)


def print_run_comparison(console: Console, run_dir: Path, manifest: RunManifest, results: list[CaseResult]) -> None:
    """The end of ``dlrmbench run``: the cases just run against their references."""
    from dlrmbench.results.compare import compare
    from dlrmbench.results.load import ResultSet

    if not any(r.status == "ok" for r in results):
        return
    comparison = compare([ResultSet(path=run_dir, manifest=manifest, results=results)])
    print_comparison(console, comparison, noise=False)  # the run table printed the noise warnings already
