"""The HTML report on the fixture result sets: its content, its PNG files, and a real browser loading it."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from dlrmbench.cli import make_cli
from dlrmbench.report.analysis import gpu_scaling, precision_speedups
from dlrmbench.report.html import write_report
from dlrmbench.results.compare import compare
from dlrmbench.results.load import load_results

pytest.importorskip("matplotlib", reason="the HTML report needs matplotlib (dlrmbench[report])")

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "results"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0", "--hide-scrollbars"]


def load(name: str):
    return load_results([FIXTURES / name]).sets[0]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    sets = [load("baseline"), load("candidate"), load("scaled")]
    written = write_report(sets, out / "report.html", baseline=sets[0], png_dir=out / "png")
    return written, written.html.read_text(encoding="utf-8")


def test_speedups_and_scaling_pair_only_cases_that_differ_in_one_field() -> None:
    comparison = compare([load("candidate")])
    speedups = {s.mixed_case: s for s in precision_speedups(comparison)}
    assert set(speedups) == {"train-16gpu-large-amp", "train-8gpu-large-amp"}
    assert speedups["train-16gpu-large-amp"].measured == pytest.approx(10.1 / 5.0)
    assert speedups["train-16gpu-large-amp"].reference == pytest.approx(11208483 / 4567478)
    assert speedups["train-8gpu-large-amp"].full_case == "train-8gpu-large-fp32"
    series = {s.label.split(", ")[0]: s for s in gpu_scaling(comparison)}
    assert series["dgx2: fp32"].gpus == [8, 16] and series["dgx2: fp32"].measured == [3.2e6, 5.0e6]
    assert series["dgx2: amp"].reference == [8315534, 11208483]


def test_report_holds_every_section_inline(report) -> None:
    written, html = report
    assert html.count("<svg") == len(written.pngs)
    names = {p.name for p in written.pngs}
    assert {"throughput.png", "precision_speedup.png", "gpu_scaling.png", "energy_per_sample.png"} <= names
    assert len([n for n in names if n.startswith("timeline_")]) == 12  # 3 sets x 4 cases
    for text in ("Throughput against the reference", "Mixed precision speed-up", "Scaling with GPU count",
                 "Energy per sample", "board energy", "regression", "improvement", "not comparable",
                 "measured in different environments", "550.54.15", "sw_power_cap"):
        assert text in html, text
    # offline: nothing is fetched (namespaces inside the SVG are not fetches)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html)
    assert "<script" not in html and "@import" not in html


def test_png_files_are_real_images(report) -> None:
    written, _ = report
    for path in written.pngs:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000


def test_report_command_writes_html_and_pngs(tmp_path: Path) -> None:
    out = CliRunner().invoke(make_cli(), ["report", str(FIXTURES / "candidate"), "--html", str(tmp_path / "r.html"),
                                          "--png", str(tmp_path / "png")])
    assert out.exit_code == 0, out.output
    assert (tmp_path / "r.html").exists() and len(list((tmp_path / "png").glob("*.png"))) == 8
    bad = CliRunner().invoke(make_cli(), ["report", str(tmp_path / "none"), "--html", str(tmp_path / "x.html")])
    assert bad.exit_code == 2 and "no such file or directory" in bad.output
    assert not (tmp_path / "x.html").exists()


def browse(page: Path, shot: Path, tmp: Path, height: int = 5000) -> str:
    """Load ``page`` in headless Chromium, screenshot it, and return the browser's log."""
    proc = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp / 'profile'}", f"--window-size=1200,{height}",
                           f"--screenshot={shot}", page.resolve().as_uri()],
                          capture_output=True, text=True, timeout=120)
    return proc.stdout + proc.stderr


def console_messages(log: str) -> list[str]:
    return [line for line in log.splitlines() if ":CONSOLE" in line]


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (Debian: apt-get install chromium)")
def test_the_check_would_see_a_console_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.html"
    bad.write_text("<!DOCTYPE html><html><head><link rel='icon' href='data:,'></head><body>x"
                   "<script>console.error('deliberate')</script></body></html>")
    assert any("deliberate" in m for m in console_messages(browse(bad, tmp_path / "bad.png", tmp_path, 300)))


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (Debian: apt-get install chromium)")
def test_chromium_loads_the_report_without_errors_and_shows_the_charts(report, tmp_path: Path) -> None:
    import matplotlib.image

    written, _ = report
    shot = written.html.parent / "screenshot.png"
    log = browse(written.html, shot, tmp_path)
    assert console_messages(log) == [], log
    assert shot.exists(), log
    pixels = matplotlib.image.imread(shot)[:, :, :3]
    not_white = (pixels < 0.95).any(axis=2)
    assert not_white.mean() > 0.03  # text, tables and charts, not a blank page
    blue = (abs(pixels[:, :, 0] - 0x1F / 255) < 0.03) & (abs(pixels[:, :, 1] - 0x77 / 255) < 0.03) & \
           (abs(pixels[:, :, 2] - 0xB4 / 255) < 0.03)
    assert blue.sum() > 2000  # the charts' bars and lines were drawn
