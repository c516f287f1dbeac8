"""docs/families.md is the family contract as the core calls it: every method of the protocol and every
field a family spec declares is documented, and its example suite is a valid suite of the two-tower family."""

from __future__ import annotations

import dataclasses
import re

from dlrmbench import plugin_api
from tests.conftest import REPO

DOC = (REPO / "docs" / "families.md").read_text()


def test_every_method_the_core_calls_is_documented_with_its_arguments() -> None:
    import inspect

    for name in ("build_model", "model_inputs", "target", "loss", "eval_rows", "metrics", "check_batch"):
        args = [p for p in inspect.signature(getattr(plugin_api.WorkloadFamily, name)).parameters if p != "self"]
        assert f"`{name}({', '.join(args)})`" in DOC, name


def test_every_family_field_of_the_spec_is_documented() -> None:
    family_fields = ("uses", "metrics", "target_metric", "flops_per_sample", "memory_plan", "default_topology",
                     "verify", "serving", "defaults")
    names = {f.name for f in dataclasses.fields(plugin_api.PluginSpec)}
    for field in family_fields:
        assert field in names, field
        assert re.search(rf"\| `{field}[(`]", DOC), f"docs/families.md documents no {field}"


def test_the_example_suite_validates_against_the_fixture_family(tmp_path) -> None:
    import subprocess
    import sys

    from tests.conftest import FIXTURES, cli_env, run_cli

    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
                    "--target", str(site), str(FIXTURES / "twotower")], check=True, capture_output=True)
    block = re.search(r"```yaml\n(.*?)```", DOC, re.S).group(1)
    suite = tmp_path / "families.yaml"
    suite.write_text("name: families\ndefaults: {device: cpu}\n" + block)
    done = run_cli("validate", str(suite), env=cli_env(site))
    assert done.returncode == 0, done.stdout + done.stderr
    suite.write_text("name: families\n" + block.replace("tower: [32, 16]", "towers: [32, 16]"))
    done = run_cli("validate", str(suite), env=cli_env(site))
    assert done.returncode == 2 and "towers" in done.stdout + done.stderr and "tower" in done.stdout + done.stderr
