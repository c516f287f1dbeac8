"""The serving guide (docs/guides/serving.md) documents options the commands really have."""

from __future__ import annotations

import re

from tests.conftest import REPO


def _options(command) -> set[str]:
    return {o for p in command.params for o in getattr(p, "opts", []) + getattr(p, "secondary_opts", [])}


def test_every_option_the_serving_section_names_exists():
    from dlrmbench.cli.compare import compare_command
    from dlrmbench.cli.run import run_command
    from dlrmbench_plugins.commands.export import export_command, serve_bench_command

    section = (REPO / "docs/guides/serving.md").read_text()
    known = _options(export_command) | _options(serve_bench_command)
    known |= _options(run_command) | _options(compare_command)  # a serve case runs through run, shows in compare
    for line in section.splitlines():
        if line.lstrip().startswith(("tritonserver", "docker", "curl", "perf_analyzer")):
            continue
        for option in re.findall(r"(?<![\w-])(--[a-z][a-z-]+)", line):
            if "perf_analyzer" in line and option == "--concurrency-range":
                continue
            if option in ("--gpus",):  # docker's
                continue
            assert option in known, f"the serving guide names {option}, which no command has: {line}"
    commands = re.findall(r"^dlrmbench (export|serve-bench) ", section, flags=re.M)
    assert set(commands) == {"export"} and "dlrmbench serve-bench exported" in section


def test_the_serve_case_example_names_every_serve_field_and_validates():
    """The serving guide's ``mode: serve`` example is a valid case and documents every ``serve:`` key."""
    import yaml

    from dlrmbench.config.schema import Case, ServeConfig

    readme = (REPO / "docs/guides/serving.md").read_text()
    section = readme[readme.index("**Serving as a suite case.**"):]
    block = section[section.index("```yaml") + len("```yaml"): section.index("```", section.index("```yaml") + 7)]
    (case,) = yaml.safe_load(block)
    assert set(case["serve"]) == set(ServeConfig.model_fields)
    validated = Case.model_validate(case)
    assert validated.mode == "serve" and validated.serve == ServeConfig.model_validate(case["serve"])
    assert validated.serve == ServeConfig()  # the example shows the defaults
    assert "suites/serving-cpu.yaml" in section and (REPO / "suites/serving-cpu.yaml").is_file()
