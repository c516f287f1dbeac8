"""Names from any input that become paths are refused unless plain (issue 28, class "names"): control
characters, a trailing newline, path separators, '..', bidirectional overrides. One check
(dlrmbench.safe_names) serves suites, exports and MLPerf packages; a seeded generator makes the names."""

from __future__ import annotations

import json
import random

import pytest
from click.testing import CliRunner

from dlrmbench.cli import make_cli
from dlrmbench.safe_names import check_safe_name, is_safe_name

BAD_PIECES = ["\n", "\r", "\t", "\x00", "\x1b[2J", "\x7f", "\u202e", "\u200b", "/", "\\", " ", ":", "*", "\x85"]


def hostile_names(count: int, seed: int = 28) -> list[str]:
    rng = random.Random(seed)
    names = ["..", ".", "", "-rf", ".hidden", "a" * 201, "name\n", "name\r\n", "../x", "a/b"]
    while len(names) < count:
        base = "".join(rng.choice("abc019._-") for _ in range(rng.randint(1, 6)))
        piece = rng.choice(BAD_PIECES)
        at = rng.choice([0, len(base) // 2, len(base)])
        names.append(base[:at] + piece + base[at:])
    return names


@pytest.mark.parametrize("name", hostile_names(60), ids=lambda n: repr(n)[:16])
def test_hostile_names_are_refused_by_the_one_check(name):
    assert not is_safe_name(name)
    with pytest.raises(ValueError):
        check_safe_name(name, "case name")


@pytest.mark.parametrize("name", ["quickstart", "train-1gpu-small-tf32", "a.b_c+d=e-1", "x" * 200])
def test_plain_names_pass(name):
    assert is_safe_name(name) and check_safe_name(name) == name


@pytest.mark.parametrize("field", ["suite", "case"])
@pytest.mark.parametrize("name", ["quick\n", "quick\r", "qu\x1b]0;t\x07ick", "\u202eevil", "../up", "a/b", "a b"],
                         ids=repr)
def test_suite_and_case_names_that_are_not_plain_are_refused_by_validate(tmp_path, field, name):
    suite = {"name": "ok", "defaults": {"device": "cpu", "model": {"table_sizes": [10]}}, "cases": [{"name": "c"}]}
    if field == "suite":
        suite["name"] = name
    else:
        suite["cases"][0]["name"] = name
    path = tmp_path / "s.yaml"
    path.write_text(json.dumps(suite))  # JSON is YAML: the name is written with its escapes
    run = CliRunner().invoke(make_cli(), ["validate", str(path)])
    assert run.exit_code == 2, run.output
    assert f"is not a safe {field} name" in run.output and "Traceback" not in run.output
    assert "\x1b" not in run.output and "\u202e" not in run.output
