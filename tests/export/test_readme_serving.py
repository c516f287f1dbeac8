"""The README's serving section documents options the commands really have."""

from __future__ import annotations

import re

from tests.conftest import REPO


def _options(command) -> set[str]:
    return {o for p in command.params for o in getattr(p, "opts", []) + getattr(p, "secondary_opts", [])}


def test_every_option_the_serving_section_names_exists():
    from dlrmbench_plugins.commands.export import export_command, serve_bench_command

    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Serving: export for Triton"): readme.index("## Telemetry")]
    known = _options(export_command) | _options(serve_bench_command)
    for line in section.splitlines():
        if line.lstrip().startswith(("tritonserver", "docker", "curl", "perf_analyzer")):
            continue
        for option in re.findall(r"(?<![\w-])(--[a-z][a-z-]+)", line):
            if "perf_analyzer" in line and option == "--concurrency-range":
                continue
            if option in ("--gpus",):  # docker's
                continue
            assert option in known, f"README serving section names {option}, which neither command has: {line}"
    commands = re.findall(r"^dlrmbench (export|serve-bench) ", section, flags=re.M)
    assert set(commands) == {"export"} and "dlrmbench serve-bench exported" in section
