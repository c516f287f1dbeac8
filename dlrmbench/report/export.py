"""Machine- and document-friendly renderings of a comparison: CSV, JSON and Markdown."""

from __future__ import annotations

import csv
import io
import json

from dlrmbench.report.formatting import fmt_pct, fmt_ratio, fmt_value
from dlrmbench.results.compare import Comparison


def to_csv(comparison: Comparison) -> str:
    records = comparison.to_records()
    buffer = io.StringIO()
    if records:
        writer = csv.DictWriter(buffer, fieldnames=list(records[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
    return buffer.getvalue()


def to_json(comparison: Comparison) -> str:
    payload = {"result_sets": comparison.sets, "baseline": comparison.baseline, "rows": comparison.to_records()}
    return json.dumps(payload, indent=2) + "\n"


def to_markdown(comparison: Comparison) -> str:
    header = ["case", "metric", "reference"] + [
        s + (" (baseline)" if s == comparison.baseline else "") for s in comparison.sets
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in comparison.rows:
        cells = []
        for label in comparison.sets:
            cell = row.cells.get(label)
            if cell is None:
                cells.append("not run")
            elif cell.status != "ok":
                cells.append(cell.status)
            else:
                parts = [fmt_value(cell.value, row.unit)]
                if cell.rel_spread is not None:
                    parts.append(fmt_pct(cell.rel_spread))
                if cell.vs_reference is not None:
                    parts.append(f"({fmt_ratio(cell.vs_reference)} ref)")
                elif not cell.comparable:
                    parts.append("(scaled down: not comparable)")
                if cell.vs_baseline is not None:
                    parts.append(f"({fmt_ratio(cell.vs_baseline)} base{', ' + cell.flag if cell.flag else ''})")
                cells.append(" ".join(parts))
        lines.append("| " + " | ".join([f"{row.suite}/{row.case}", f"{row.metric} [{row.unit}]",
                                          fmt_value(row.reference, row.unit), *cells]) + " |")
    return "\n".join(lines) + "\n"
