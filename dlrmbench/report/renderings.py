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


COMPARE_JSON_SCHEMA = 2


def to_json(comparison: Comparison) -> str:
    payload = {"schema": "dlrmbench.compare", "schema_version": COMPARE_JSON_SCHEMA, "result_sets": comparison.sets,
               "baseline": comparison.baseline, "min_change": comparison.min_change, "alpha": comparison.alpha,
               "rule": comparison.rule, "rows": comparison.to_records()}
    return json.dumps(payload, indent=2) + "\n"


def to_markdown(comparison: Comparison) -> str:
    header = ["case", "metric", "reference"] + [
        _md(s) + (" (baseline)" if s == comparison.baseline else "") for s in comparison.sets
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
                    parts.append(f"({cell.comparability_note})")
                if cell.ci is not None:
                    parts.append(f"(95% CI {fmt_value(cell.ci[0], row.unit)} to {fmt_value(cell.ci[1], row.unit)})")
                if cell.p50_value is not None:
                    parts.append(f"(p50-based {fmt_value(cell.p50_value, row.unit)})")
                if cell.vs_baseline is not None:
                    verdict = cell.flag or cell.note or ""
                    parts.append(f"({fmt_ratio(cell.vs_baseline)} base{', ' + verdict if verdict else ''})")
                cells.append(" ".join(parts))
        lines.append("| " + " | ".join([_md(f"{row.suite}/{row.case}"), _md(f"{row.metric_label} [{row.unit}]"),
                                          fmt_value(row.reference, row.unit), *cells]) + " |")
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    """Text shown literally in a Markdown table cell: pipes and markup characters escaped, ``< > &`` as
    HTML entities (no renderer takes them for a tag), any acting character as a visible escape."""
    from dlrmbench.safe_text import shown

    entities = {"<": "&lt;", ">": "&gt;", "&": "&amp;"}
    return "".join(entities.get(c) or ("\\" + c if c in "\\|*_`[]$" else c) for c in shown(text, newlines=False))
