"""``mlperf package`` never writes outside its output: the organisation and system names from the logs
become folder names only when they are plain names (finding 2 of issue 28)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from dlrmbench.cli import make_cli
from dlrmbench.mlperf.dcnv2_log import Dcnv2Run
from tests.dlrmv2.mllog_runs import write_log

HOSTILE = ["..", ".", "../../escaped", "a/../../..", "org\n", "\x1b]0;owned\x07", "\u202eevil", "", "-rf", "x" * 201]


def result_set(root: Path, org: str, platform: str) -> Path:
    """A result set of 10 dlrm_dcnv2 runs whose logs carry ``org`` and ``platform``."""
    results = root / "results" / "mlperf-dlrmv2" / "run1"
    results.mkdir(parents=True)
    template = str(root / "logs" / "{case}.txt")
    cases = []
    for run in range(10):
        case = f"seed{run}"
        write_log(Path(template.replace("{case}", case)), Dcnv2Run(
            global_batch_size=512, learning_rate=0.004, seed=run, eval_samples=4096, platform=platform, org=org),
            [0.6, 0.81])
        (results / f"{case}.json").write_text(json.dumps({"case": case, "config": {"mlperf_log": {"path": template}}}))
        cases.append({"case": case, "repeat": 0, "status": "ok", "file": f"{case}.json"})
    (results / "run.json").write_text(json.dumps({"cases": cases, "environment": {}}))
    return results


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


@pytest.mark.parametrize("field", ["org", "platform"])
@pytest.mark.parametrize("name", HOSTILE, ids=lambda v: repr(v)[:14])
def test_names_from_the_logs_that_are_not_plain_never_become_paths(tmp_path: Path, field: str, name: str) -> None:
    inputs = tmp_path / "in"
    results = result_set(inputs, **({"org": "ACME", "platform": "box"} | {field: name}))
    before = _files(tmp_path)
    out = tmp_path / "deep" / "submission"
    run = CliRunner().invoke(make_cli(), ["mlperf", "package", str(results), str(out)])
    key = "submission_org" if field == "org" else "submission_platform"
    assert run.exit_code == 2, run.output
    assert f"{key} cannot name a folder of the submission" in run.output and "seed0.txt" in run.output
    assert "\x1b" not in run.output and "\u202e" not in run.output and "Traceback" not in run.output
    assert _files(tmp_path) - before <= {"deep"}  # nothing written, inside or outside the output


def test_spaces_in_an_organisation_name_still_make_a_package(tmp_path: Path) -> None:
    results = result_set(tmp_path / "in", "Big Org", "box 1")
    out = tmp_path / "submission"
    run = CliRunner().invoke(make_cli(), ["mlperf", "package", str(results), str(out)])
    assert run.exit_code == 0, run.output
    assert (out / "Big_Org" / "systems" / "box_1.json").is_file()
    assert len(list((out / "Big_Org" / "results" / "box_1" / "dlrm_dcnv2").iterdir())) == 10


@pytest.mark.parametrize("option, name", [("--org", ".."), ("--system", "../../x"), ("--org", "a\nb")], ids=repr)
def test_names_given_on_the_command_line_that_are_not_plain_never_become_paths(tmp_path: Path, option: str,
                                                                                name: str) -> None:
    results = result_set(tmp_path / "in", "ACME", "box")
    before = _files(tmp_path)
    run = CliRunner().invoke(make_cli(), ["mlperf", "package", str(results), str(tmp_path / "out"), option, name])
    assert run.exit_code == 2 and "cannot name a folder of the submission" in run.output, run.output
    assert _files(tmp_path) == before
