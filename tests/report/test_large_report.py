"""A report over many cases stays bounded (issue 28: 86 s for 500 cases, every case drawn twice): the
summary charts draw at most MAX_CHART_ROWS rows, flagged ones first; the per-case step-time and
telemetry charts stop at MAX_CASE_CHARTS; every case stays in the tables, and notes say what was
left out. The limits are lowered here so that the test draws few charts (bench/report_html.py
measures the cost)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("matplotlib", reason="the report extra is not installed")

REPO = Path(__file__).resolve().parents[2]


def test_many_cases_draw_bounded_charts_and_keep_every_case_in_the_tables(tmp_path, monkeypatch):
    sys.path.insert(0, str(REPO / "bench"))
    from report_html import write_results

    from dlrmbench.report import html
    from dlrmbench.results.load import load_results

    monkeypatch.setattr(html, "MAX_CHART_ROWS", 4)
    monkeypatch.setattr(html, "MAX_CASE_CHARTS", 2)
    sets = load_results([write_results(tmp_path, 9)]).sets
    written = html.write_report(sets, tmp_path / "r.html", png_dir=tmp_path / "png")
    page = written.html.read_text()
    names = sorted(p.name for p in written.pngs)
    first = list(dict.fromkeys(r.case for r in sets[0].results))[:2]
    assert [n for n in names if n.startswith("steps_")] == [f"steps_run1_{c}.png" for c in first]
    assert [n for n in names if n.startswith("timeline_")] == [f"timeline_run1_{c}.png" for c in first]
    assert "The summary charts draw 4 of the 9 rows" in page
    assert "Step times drawn for the first 2 cases; 7 more" in page
    assert "Telemetry timelines drawn for the first 2 cases; 7 more" in page
    for case in (r.case for r in sets[0].results):  # every case (2 repeats each) in the summary and telemetry tables
        assert page.count(f"{case}</td>") == 2 and f"{case} #2</td>" in page, case
    throughput = (tmp_path / "png" / "throughput.png")
    assert throughput.is_file()


def test_flagged_rows_are_drawn_first_when_rows_are_cut(monkeypatch):
    from dlrmbench.report import html
    from dlrmbench.results.compare import Cell, Comparison, Row

    def row(case: str, ratio: float | None, flag: str | None) -> Row:
        r = Row.__new__(Row)
        cell = Cell.__new__(Cell)
        cell.vs_baseline, cell.flag = ratio, flag
        r.case, r.cells = case, {"b": cell}
        return r

    monkeypatch.setattr(html, "MAX_CHART_ROWS", 3)
    rows = [row("a", 1.01, None), row("b", 0.5, None), row("c", 0.97, "regression"), row("d", 1.2, None),
            row("e", None, None)]
    comparison = Comparison(sets=["b"], baseline="a", rows=rows)
    cut, note = html._charted(comparison)
    assert [r.case for r in cut.rows] == ["b", "c", "d"] and "3 of the 5 rows" in note
