"""``--json`` outputs: versioned documents whose fields the docs document; validate lists every problem
with file, line and field path; verify lists a long reason once."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

from dlrmbench.report.jsonout import SCHEMAS
from tests.conftest import REPO, TINY_DEFAULTS, run_cli


def test_the_docs_document_every_schema_and_its_fields() -> None:
    readme = (REPO / "docs/reference/results.md").read_text(encoding="utf-8")
    for name, (version, keys) in SCHEMAS.items():
        row = re.search(rf"^\| `{re.escape(name)}` \({version}\) \|(.+)\|$", readme, re.M)
        assert row, f"docs/reference/results.md: no row for {name} version {version}"
        for key in keys:
            if key not in ("schema", "schema_version"):
                assert f"`{key}`" in row.group(1), (name, key)


def test_validate_json_lists_every_problem_with_file_line_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ncases:\n  - name: a\n    batch_size: -1\n    bogus: 1\n")
    out = run_cli("validate", "suites/quickstart.yaml", str(bad), str(tmp_path / "missing.yaml"), "--json")
    assert out.returncode == 2 and out.stderr == ""
    doc = json.loads(out.stdout)
    assert doc["schema"] == "dlrmbench.validate" and doc["schema_version"] == 1 and doc["valid"] is False
    good, broken, missing = doc["suites"]
    assert good == {"file": "suites/quickstart.yaml", "valid": True, "suite": "quickstart", "cases": 3, "problems": []}
    assert [(p["file"], p["line"], p["field"]) for p in broken["problems"]] == [
        (str(bad), 4, "cases[0].batch_size"), (str(bad), 5, "cases[0].bogus")]
    assert broken["problems"][0]["message"] == "Input should be greater than 0 (got -1)"
    assert missing["problems"][0]["field"] is None and "no such suite file" in missing["problems"][0]["message"]


def test_plan_json_and_dry_run_json(write_suite) -> None:
    suite = write_suite("name: tiny\n" + TINY_DEFAULTS + "cases:\n  - name: train\n  - name: gpu\n    device: cuda\n")
    for args in (("plan", str(suite), "--json"), ("run", str(suite), "--dry-run", "--json")):
        out = run_cli(*args)
        assert out.returncode == 0, out.stderr
        doc = json.loads(out.stdout)
        assert doc["schema"] == "dlrmbench.plan" and doc["suite"] == "tiny"
        cases = {c["case"]: c for c in doc["cases"]}
        assert cases["train"]["runnable"] is True and cases["train"]["batch_size"] == 256
        assert cases["gpu"]["runnable"] is False and "CUDA" in cases["gpu"]["skip_reason"]


def _report():
    from dlrmbench_plugins.families.dlrm_verify import Check, Combination, VerifyReport, VerifySettings

    long = "NVIDIA apex is not installed\n" + "\n".join(f"detail line {i}" for i in range(16))
    checks = [Check(Combination("eager", "joint", "dot"), "pass", 1e-7, 2e-7, 3e-7)]
    checks += [Check(Combination("apex_mlp", e, i), "unavailable", reason=long)
               for e in ("joint", "multi_table") for i in ("dot", "cat")]
    return VerifyReport(VerifySettings(), checks), long


def test_verify_states_a_long_reason_once() -> None:
    from rich.console import Console

    from dlrmbench_plugins.families import dlrm_verify as command

    report, long = _report()
    buffer = io.StringIO()
    command.render(report, Console(file=buffer, width=80))
    text = buffer.getvalue()
    assert text.count("detail line 15") == 1 and text.count("[reason 1]") == 4
    assert "apex_mlp + multi_table + cat: unavailable [reason 1]" in text  # 80 columns: the stacked layout
    doc = json.loads(command.to_json(report))
    assert doc["schema"] == "dlrmbench.verify" and doc["ok"] is True and doc["reasons"] == [long]
    assert [c["reason"] for c in doc["checks"]] == [None, 0, 0, 0, 0]
    assert doc["settings"]["tolerance"] == 1e-5
