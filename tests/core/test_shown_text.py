"""Text from result files reaches no terminal raw (finding 5 of issue 28): control characters, escape
sequences, bidirectional overrides and newlines in names are shown as visible escapes by ``compare``
(every format) and ``report`` (warnings, HTML); Markdown and HTML are escaped. A seeded generator
builds the names; every output is checked for any character that could act on a terminal."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from dlrmbench.cli import make_cli
from dlrmbench.results.schema import CaseEntry, CaseResult, RunManifest, metric
from dlrmbench.results.store import atomic_write_json
from dlrmbench.safe_text import shown

NASTY = ["\x1b[2J", "\x1b]0;owned\x07", "\x1b]8;;http://x\x1b\\", "\x9b31m", "\u202e", "\u2066", "\u200b", "\ufeff",
         "\x07", "\x00", "\r", "\n", "\t", "\x7f", "<script>alert(1)</script>", "|", "[/b]", "$x$", "**", "`"]
#: Any character that can act on a terminal or reorder or hide what it shows (newline excepted).
ACTING = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def nasty_name(rng: random.Random) -> str:
    parts = [rng.choice("abcxyz") for _ in range(rng.randint(1, 3))]
    for _ in range(rng.randint(1, 3)):
        parts.insert(rng.randint(0, len(parts)), rng.choice(NASTY))
    return "".join(parts) + rng.choice(["", "\n", "\u202e"])


def write_set(root: Path, rng: random.Random, folder: str) -> Path:
    suite, run_id = nasty_name(rng), nasty_name(rng)
    run_dir = root / folder
    manifest = RunManifest(suite=suite, suite_file="s.yaml", suite_sha256="0" * 64, run_id=run_id,
                           dlrmbench_version="0", command=[], started_at="2026-01-01T00:00:00+00:00",
                           status="complete", environment={"cpu": nasty_name(rng), "gpus": []})
    for number in range(2):
        case = nasty_name(rng)
        for repeat, value in enumerate((100.0, 101.0)):
            config = {"mode": "train", "batch_size": 1024, "comparable": True, "device": nasty_name(rng),
                      "reference": {"throughput": 400.0, "source": nasty_name(rng)}}
            result = CaseResult(suite=suite, run_id=run_id, case=case, repeat=repeat, status="ok", config=config,
                                metrics={"train_throughput": metric(value, "samples/s", True,
                                                                    description=nasty_name(rng))})
            name = f"c{number}.r{repeat}.json"
            atomic_write_json(run_dir / "cases" / name, result)
            manifest.cases.append(CaseEntry(case=case, repeat=repeat, status="ok", file=f"cases/{name}"))
    atomic_write_json(run_dir / "run.json", manifest)
    (run_dir / "cases" / "broken.json").write_text("{")  # a problem message quoting the path
    return run_dir


@pytest.fixture(scope="module")
def hostile_results(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hostile")
    rng = random.Random(28)
    for i in range(4):
        write_set(root, rng, f"set{i}\x1b[2J\u202e")
    return root


def _raw(text: str) -> list[str]:
    return sorted({repr(c) for c in ACTING.findall(text)})


@pytest.mark.parametrize("fmt", ["table", "csv", "json", "markdown"])
def test_compare_shows_names_from_files_as_visible_escapes(hostile_results, fmt):
    run = CliRunner().invoke(make_cli(), ["compare", str(hostile_results), "--format", fmt])
    assert run.exit_code == 0, run.output
    assert _raw(run.stdout) == [] and _raw(run.stderr) == []
    assert "x1b" in run.stdout and "u202e" in run.stdout  # shown, not silently dropped
    assert "Warning: " in run.stderr and "broken.json: not valid JSON" in run.stderr
    if fmt == "markdown":
        assert "<script" not in run.stdout
        sets = json.loads(CliRunner().invoke(make_cli(), ["compare", str(hostile_results), "--format", "json"]).stdout)
        lines = run.stdout.splitlines()
        for line in lines[:1] + lines[2:]:  # no name adds or splits a column (the names hold no spaces)
            assert line.count(" | ") == 2 + len(sets["result_sets"]), line


def test_report_warnings_and_html_show_names_from_files_as_visible_escapes(hostile_results, tmp_path):
    out = tmp_path / "report.html"
    run = CliRunner().invoke(make_cli(), ["report", str(hostile_results), "--html", str(out)])
    assert run.exit_code == 0, run.output
    assert _raw(run.stdout) == [] and _raw(run.stderr) == [] and "broken.json" in run.stderr
    page = out.read_text()
    assert _raw(page.replace("\n", "")) == [] and "<script>alert" not in page and "&lt;script&gt;" in page


def test_errors_quoting_a_file_show_its_text_as_visible_escapes(tmp_path):
    export = tmp_path / "export\x1b]0;t\x07"
    export.mkdir()
    (export / "export.json").write_text('{"format": "x\\u001b[2J\\u202e"}')
    run = CliRunner().invoke(make_cli(), ["serve-bench", str(export)])
    assert run.exit_code == 2 and _raw(run.output) == [] and "export\\x1b]0;t\\x07" in run.output


@pytest.mark.parametrize("text, expected", [
    ("plain name", "plain name"), ("a\x1b[2Jb", "a\\x1b[2Jb"), ("\u202eevil", "\\u202eevil"),
    ("two\nlines", "two\nlines"), ("tab\there", "tab\there"), ("\x9b", "\\x9b"), ("\u2029", "\\u2029"),
])
def test_shown_escapes_every_acting_character_and_keeps_the_rest(text, expected):
    assert shown(text) == expected
    assert shown("name\n", newlines=False) == "name\\n" and shown("a\tb", newlines=False) == "a\\tb"
