"""The documentation site: it builds strictly, its reference pages are generated from the code and cover
it, and every ``dlrmbench`` command in its examples (and the README's) is a valid command line; the ones
that need no GPU, data or time run."""

from __future__ import annotations

import importlib.util
import re
import shlex
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from dlrmbench.cli import make_cli
from tests.conftest import REPO

BLOCK = re.compile(r"```(?:bash|sh)\n(.*?)```", re.S)
PAGES = sorted([REPO / "README.md", *(REPO / "docs").rglob("*.md")])


def _reference_module():
    spec = importlib.util.spec_from_file_location("docs_reference", REPO / "docs/hooks/reference.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _examples() -> list[tuple[str, str]]:
    """(page, command line) for every ``dlrmbench ...`` line of a bash block, continuations joined."""
    found = []
    for page in PAGES:
        for block in BLOCK.findall(page.read_text(encoding="utf-8")):
            for line in block.replace("\\\n", " ").splitlines():
                line = line.strip()
                if line.startswith("dlrmbench "):
                    found.append((str(page.relative_to(REPO)), re.sub(r"\s+#.*$", "", line)))
    return found


EXAMPLES = _examples()


def _parse(args: list[str]) -> click.Context:
    """Parse ``dlrmbench ARGS`` as click would, down to the leaf command, without running it."""
    cli = make_cli()
    ctx = cli.make_context("dlrmbench", list(args))
    command: click.Command = cli
    while isinstance(command, click.Group):
        name, sub, rest = command.resolve_command(ctx, [*ctx._protected_args, *ctx.args])
        assert sub is not None and name is not None
        ctx = sub.make_context(name, rest, parent=ctx)
        command = sub
    return ctx


def test_the_docs_have_command_examples():
    pages = {page for page, _ in EXAMPLES}
    assert {"README.md", "docs/getting-started.md", "docs/guides/ci-gate.md"} <= pages, pages


@pytest.mark.parametrize("page, line", EXAMPLES, ids=[f"{p}: {l}" for p, l in EXAMPLES])
def test_every_documented_command_line_is_valid(page, line):
    """The command and every option exist, values are of the right type and choice."""
    _parse(shlex.split(line)[1:])


def _cheap(line: str) -> bool:
    args = shlex.split(line)[1:]
    return args[:1] in (["suites"], ["list-plugins"], ["validate"]) or (args[:1] == ["run"] and "--dry-run" in args)


CHEAP = sorted({line for _, line in EXAMPLES if _cheap(line)})


@pytest.mark.parametrize("line", CHEAP)
def test_documented_commands_that_need_no_gpu_or_data_run(line, monkeypatch):
    monkeypatch.chdir(REPO)  # the docs' paths (suites/dgxa100.yaml) are relative to a checkout
    result = CliRunner().invoke(make_cli(), shlex.split(line)[1:], env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output


def test_reference_pages_cover_the_code():
    from dlrmbench.config.schema import Case
    from dlrmbench.hookspecs import environment_info  # noqa: F401 (the module exists)
    from dlrmbench.results.schema import CaseResult, RunManifest

    reference = _reference_module()
    cli = reference.cli_reference()
    for path in reference.command_paths(make_cli()):
        assert f"dlrmbench {' '.join(path)}\n" in cli, path
    suite = reference.suite_reference()
    for name in Case.model_fields:
        assert f"| `{name}` |" in suite, name
    assert "| `model.table_sizes` |" in suite and "| `inference.batch_sizes` |" in suite
    results = reference.result_reference()
    for model in (CaseResult, RunManifest):
        for name in model.model_fields:
            assert f"| `{name}` |" in results, (model.__name__, name)
    contract = reference.contract_reference()
    for hook in ("register_backends", "register_embeddings", "register_interactions", "register_optimizers",
                 "register_datasets", "register_commands", "environment_info"):
        assert f"def {hook}(" in contract, hook
    for kind in ("DenseBackend", "EmbeddingStrategy", "Interaction", "OptimizerPlugin", "Dataset", "BuildContext",
                 "PluginSpec"):
        assert f"class {kind}:" in contract, kind
    for page in ("cli", "suites", "plugin-contract", "plugin-options", "result-schema"):
        text = (REPO / f"docs/reference/{page}.md").read_text()
        assert reference.MARKER.search(text), f"docs/reference/{page}.md lost its generated part"


def test_the_readme_is_the_short_front_page():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 200
    for link in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (REPO / link).is_file(), link


def test_the_site_builds_strictly(tmp_path):
    """``mkdocs build --strict``: a broken link, a page missing from the nav or a failing generator fails it."""
    if importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("material") is None:
        pytest.fail("MkDocs with Material is not installed: pip install -e '.[docs]' (make test installs it)")
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
                            cwd=REPO, capture_output=True, text=True, timeout=300,
                            env={**__import__("os").environ, "NO_MKDOCS_2_WARNING": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    cli_page = (tmp_path / "site/reference/cli/index.html").read_text()
    assert "dlrmbench suites" in cli_page and "--dry-run" in cli_page
    assert not (REPO / "site").exists()
