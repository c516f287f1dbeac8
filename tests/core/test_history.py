"""`dlrmbench history`: series over result sets, steps found by ruptures and confirmed by the per-run test,
named by the labels either side; the CI gate; the JSON document."""

from __future__ import annotations

import json

import pytest

from dlrmbench.results.history import change_points, history
from dlrmbench.results.load import load_results
from tests.conftest import REPO, run_cli
from tests.core.test_statistics import write_set

pytest.importorskip("ruptures", reason="history needs ruptures (dlrmbench[history])")


def _series(root, name: str, slow_from: int | None, points: int = 10, slowdown: float = 0.20, suite: str = "syn"):
    """``points`` result sets of 3 runs each, an hour apart, labelled commit=c0..; from ``slow_from`` on every
    step is ``slowdown`` slower (a regression landed at that commit)."""
    for i in range(points):
        step_s = 0.010 * (1 + slowdown if slow_from is not None and i >= slow_from else 1.0)
        write_set(root / name, f"r{i:02d}", step_s, seed=100 + i, repeats=3, started_at=f"2026-01-01T{i:02d}:00:00+00:00",
                  labels={"commit": f"c{i}"}, suite=suite, steps=40)
    return root / name


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    root = tmp_path_factory.mktemp("history")
    return {"step": _series(root, "step", 6), "flat": _series(root, "flat", None, suite="flat")}


def test_a_planted_step_is_found_confirmed_and_named_by_its_labels(series) -> None:
    found, notes = history(load_results([series["step"]]).sets, by="commit")
    assert notes == []
    train = next(s for s in found if s.case == "train")
    assert [p.label for p in train.points] == [f"c{i}" for i in range(10)]
    assert [(st.before, st.after, st.kind) for st in train.confirmed] == [("c5", "c6", "regression")]
    assert train.confirmed[0].ratio == pytest.approx(1 / 1.2, rel=0.03)
    assert train.open_regression is train.confirmed[0]



def test_a_flat_series_has_no_step_and_regressions_come_first(series) -> None:
    found, _ = history(load_results([series["flat"]]).sets)
    assert all(not s.confirmed for s in found)
    both, _ = history(load_results([series["flat"], series["step"]]).sets)
    assert [s.suite for s in both] == ["syn", "syn", "flat", "flat"]  # the regressed series first


def test_history_command_gate_and_json(series) -> None:
    out = run_cli("history", str(series["step"]), "--by", "commit", "--fail-on-regression")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "REGRESSION between c5 and c6: 0.8" in out.stdout
    assert "Regression: syn/train train_throughput: 0.8" in out.stderr
    flat = run_cli("history", str(series["flat"]), "--fail-on-regression", "--format", "json")
    assert flat.returncode == 0, flat.stderr
    doc = json.loads(flat.stdout)
    assert doc["schema"] == "dlrmbench.history" and len(doc["series"]) == 2
    assert all(len(s["points"]) == 10 and s["points"][0]["runs"] == 3 for s in doc["series"])
    unlabelled = run_cli("history", str(series["flat"]), "--by", "branch")
    assert unlabelled.returncode == 0 and "no label 'branch' (run --label branch=VALUE)" in unlabelled.stderr


def test_change_points_on_short_or_constant_series() -> None:
    assert change_points([1.0, 2.0, 3.0]) == []  # too short to look for steps
    assert change_points([5.0] * 12) == []
    assert change_points([1.0] * 8 + [0.5] * 8) == [8]


def test_report_writes_the_history_page(series, tmp_path) -> None:
    pytest.importorskip("matplotlib")
    from dlrmbench.report.history_page import write_history

    found, notes = history(load_results([series["step"]]).sets, by="commit")
    page_path = write_history(found, "commit", notes, tmp_path / "h.html")
    page = page_path.read_text()
    assert page.count("<svg") == 2 and "<td class='l'>c5</td><td class='l'>c6</td>" in page
    # the report command writes it too (here on one fixture result set: too few points for steps)
    fixture = REPO / "tests" / "fixtures" / "results" / "single"
    out = run_cli("report", str(fixture), "--html", str(tmp_path / "r.html"), "--history", str(tmp_path / "h2.html"))
    assert out.returncode == 0, out.stderr
    assert "1 point(s): a series needs 6 or more to look for steps" in (tmp_path / "h2.html").read_text()
    from tests.report.test_html_report import CHROMIUM, browse, console_messages

    if CHROMIUM is None:
        pytest.skip("headless Chromium not installed (Debian: apt-get install chromium)")
    import matplotlib.image

    log = browse(page_path, tmp_path / "h.png", tmp_path)
    assert console_messages(log) == [], log
    pixels = matplotlib.image.imread(tmp_path / "h.png")[:, :, :3]
    red = (abs(pixels[:, :, 0] - 0xB0 / 255) < 0.05) & (pixels[:, :, 1] < 0.1) & (abs(pixels[:, :, 2] - 0x20 / 255) < 0.05)
    assert red.sum() > 100  # the regression's dashed line and its label were drawn
