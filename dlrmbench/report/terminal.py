"""Rich terminal views built from results only: the run summary and the comparison table."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from dlrmbench.report.formatting import fmt_energy, fmt_pct, fmt_ratio, fmt_value
from dlrmbench.results.compare import Comparison, reference_value
from dlrmbench.results.schema import CaseResult, RunManifest

STATUS_STYLE = {"ok": "green", "skipped": "yellow", "failed": "red", "timed_out": "red", "interrupted": "magenta"}


def run_table(title: str, results: list[CaseResult]) -> Table:
    """One row per case of a run: status, headline numbers, and the reason for anything not ok.

    Numbers never wrap (a folded number misreads); the note column takes what width is left. The
    reference and note columns appear only when some case has one.
    """
    rows = []
    for r in results:
        thr = r.value("train_throughput")
        ref, _ = reference_value(r, "train_throughput")
        p50, p99 = r.value("step_time_p50"), r.value("step_time_p99")
        note = r.reason or ("" if r.config.get("comparable", True) else "scaled down: not comparable")
        if r.status == "ok" and r.metrics.get("train_throughput") and "partial" in r.metrics["train_throughput"].description:
            note = "partial"
        rows.append({
            "case": r.case + (f" #{r.repeat + 1}" if r.repeat else ""),
            "status": f"[{STATUS_STYLE.get(r.status, 'white')}]{r.status}[/]",
            "train samples/s": fmt_value(thr, "samples/s"),
            "vs ref": fmt_ratio(thr / ref if thr and ref else None) if ref else None,
            "step p50 / p99 ms": f"{fmt_value(p50, 'ms')} / {fmt_value(p99, 'ms')}" if p50 is not None else "—",
            "AUC": fmt_value(r.value("auc")),
            "inference samples/s": "\n".join(
                f"{rec['end_to_end']['throughput']:,.0f} @bs {rec['batch_size']}" for rec in r.inference) or "—",
            "note": note,
        })
    columns = [c for c in ("case", "status", "train samples/s", "vs ref", "step p50 / p99 ms", "AUC",
                           "inference samples/s", "note")
               if c not in ("vs ref", "note") or any(row[c] for row in rows)]
    table = Table(title=title, title_justify="left", expand=False)
    for column in columns:
        justify = "left" if column in ("case", "status", "note") else "right"
        table.add_column(column, justify=justify, no_wrap=column != "note", overflow="fold")
    for row in rows:
        table.add_row(*(row[c] if row[c] is not None else "—" for c in columns))
    return table


def comparison_table(comparison: Comparison) -> Table:
    """Cases as rows; per result set the headline value, its spread, and ratios."""
    table = Table(title="dlrmbench compare", title_justify="left")
    table.add_column("case", overflow="fold", no_wrap=True)
    table.add_column("metric", overflow="fold")
    table.add_column("reference", justify="right")
    for label in comparison.sets:
        short = label + (" (baseline)" if label == comparison.baseline else "")
        table.add_column(short, justify="right", overflow="fold")
    for row in comparison.rows:
        cells = []
        for label in comparison.sets:
            cell = row.cells.get(label)
            if cell is None:
                cells.append("[dim]not run[/]")
                continue
            if cell.status != "ok":
                cells.append(f"[{STATUS_STYLE.get(cell.status, 'white')}]{cell.status}[/]")
                continue
            text = fmt_value(cell.value, row.unit)
            if cell.rel_spread is not None:
                text += f" {fmt_pct(cell.rel_spread)}"
            text += f" (n={cell.repeats})" if cell.repeats > 1 else ""
            if cell.vs_reference is not None:
                text += f"\nvs ref {fmt_ratio(cell.vs_reference)}"
            elif not cell.comparable:
                text += "\n[dim]scaled down: not comparable[/]"
            if cell.vs_baseline is not None:
                style = {"regression": "red", "improvement": "green"}.get(cell.flag or "", "white")
                text += f"\n[{style}]vs base {fmt_ratio(cell.vs_baseline)}{' ' + cell.flag if cell.flag else ''}[/]"
            if row.metric != "auc" and cell.auc is not None:
                text += f"\nAUC {cell.auc:.4f}"
                if cell.auc_vs_reference is not None:
                    text += f" ({fmt_ratio(cell.auc_vs_reference)} ref)"
                elif row.auc_note:
                    text += " [dim](synthetic: not comparable)[/]"
            if cell.energy_per_sample is not None:
                text += f"\n{fmt_energy(cell.energy_per_sample)} board"
            if cell.note and cell.comparable:
                text += f"\n[dim]{cell.note}[/]"
            cells.append(text)
        metric = f"{row.metric or '—'}" + (f" [{row.unit}]" if row.unit else "")
        table.add_row(f"{row.suite}/{row.case}", metric, fmt_value(row.reference, row.unit), *cells)
    return table


def print_run(console: Console, title: str, results: list[CaseResult]) -> None:
    console.print(run_table(title, results))


def print_comparison(console: Console, comparison: Comparison) -> None:
    """The comparison table, then a warning for every environment difference and the flag rule."""
    console.print(comparison_table(comparison))
    if comparison.env_differences:
        console.print("[yellow]Warning:[/] the result sets were measured in different environments; "
                      "differences may come from these, not from the code:")
        for diff in comparison.env_differences:
            values = "; ".join(f"{label}: {value}" for label, value in diff.values.items())
            console.print(f"  [yellow]{diff.key}[/]: {values}")
    if comparison.baseline is not None:
        console.print(f"[dim]Regression/improvement {comparison.rule}.[/]")
    if any(r.auc_note for r in comparison.rows):
        console.print("[dim]AUC on synthetic data is not comparable with the reference (run with --dataset-path "
                      "for Criteo).[/]")
    if any(not c.comparable for r in comparison.rows for c in r.cells.values()):
        console.print("[dim]Scaled-down cases (--scale-down) are not comparable with the reference.[/]")


def print_run_comparison(console: Console, run_dir: Path, manifest: RunManifest, results: list[CaseResult]) -> None:
    """The end of ``dlrmbench run``: the cases just run against their references."""
    from dlrmbench.results.compare import compare
    from dlrmbench.results.load import ResultSet

    if not any(r.status == "ok" for r in results):
        return
    print_comparison(console, compare([ResultSet(path=run_dir, manifest=manifest, results=results)]))
