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


def test_every_member_of_the_served_model_is_documented_with_its_arguments() -> None:
    import inspect

    assert "`serving(model, dataset)`" in DOC
    protocol = plugin_api.ServedModel
    for name in ("module", "onnx_dynamic_shapes", "example", "reference", "compare", "library", "accuracy"):
        args = [p for p in inspect.signature(getattr(protocol, name)).parameters if p != "self"]
        assert f"`{name}({', '.join(args)})`" in DOC, name
    for name in ("input_names", "output_names", "formats", "accuracy_metric"):
        assert f"`{name}`" in DOC, name


def test_every_family_field_of_the_spec_is_documented() -> None:
    family_fields = ("uses", "metrics", "target_metric", "flops_per_sample", "memory_plan", "default_topology",
                     "verify", "serving", "defaults")
    names = {f.name for f in dataclasses.fields(plugin_api.PluginSpec)}
    for field in family_fields:
        assert field in names, field
        assert re.search(rf"\| `{field}[(`]", DOC), f"docs/families.md documents no {field}"


def test_the_example_suite_validates_against_the_fixture_family(tmp_path, family_site) -> None:
    from tests.conftest import cli_env, run_cli

    site = family_site
    block = re.search(r"```yaml\n(.*?)```", DOC, re.S).group(1)
    suite = tmp_path / "families.yaml"
    suite.write_text("name: families\ndefaults: {device: cpu}\n" + block)
    done = run_cli("validate", str(suite), env=cli_env(site))
    assert done.returncode == 0, done.stdout + done.stderr
    suite.write_text("name: families\n" + block.replace("tower: [32, 16]", "towers: [32, 16]"))
    done = run_cli("validate", str(suite), env=cli_env(site))
    assert done.returncode == 2 and "towers" in done.stdout + done.stderr and "tower" in done.stdout + done.stderr
    out = done.stdout + done.stderr
    assert re.search(r"line \d+: cases\[0\]\.model\.towers: unknown option for family 'two_tower' \(did you mean "
                     r"\"tower\"\?\)", out), out  # located in the YAML, with the fix
    assert "Traceback" not in out


FAMILY_RULES = """name: rules
defaults: {device: cpu, batch_size: 128}
cases:
  - name: own-word
    model: {family: two_tower, interaction: dot}
    dataset: {name: two_tower_synthetic}
  - name: unused-kind
    backend: eager
    model: {family: two_tower}
    dataset: {name: two_tower_synthetic}
"""


def test_a_family_refuses_plugins_it_does_not_use_and_skips_plugins_of_another_family(tmp_path, family_site
                                                                                      ) -> None:
    from tests.conftest import cli_env, run_cli

    env = cli_env(family_site, COLUMNS="200")
    suite = tmp_path / "rules.yaml"
    suite.write_text(FAMILY_RULES)
    done = run_cli("validate", str(suite), env=env)
    out = done.stdout + done.stderr
    assert done.returncode == 2 and "Traceback" not in out, out
    assert "cases[0].model.interaction: unknown option for family 'two_tower'" in out
    assert "cases[1].backend: family two_tower does not use a backend plugin; drop backend" in out
    # DLRM's synthetic dataset serves the dlrm family only: planned as a skip naming both families
    suite.write_text("name: other\ndefaults: {device: cpu, batch_size: 128}\ncases:\n  - name: wrong-data\n"
                     "    model: {family: two_tower}\n    dataset: {name: synthetic}\n")
    done = run_cli("plan", str(suite), env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "dataset synthetic serves the dlrm family, not two_tower" in " ".join(done.stdout.split())


def test_the_page_shows_the_fixture_family_that_the_tests_install() -> None:
    """Every file of tests/fixtures/twotower appears in docs/families.md, verbatim (as the plugin guide's
    example kit does in its page)."""
    from tests.conftest import FIXTURES, assert_page_shows_kit

    assert_page_shows_kit(REPO / "docs/families.md", FIXTURES / "twotower")
