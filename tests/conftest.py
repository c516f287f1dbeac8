"""Shared fixtures: a clean results directory, the CLI, and third-party fixture plugins installed
with pip into a private directory (as a user would install a plugin package)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# Triton kernels run in Triton's interpreter on the CPU. TRITON_INTERPRET must be set before triton is first
# imported (it decides how Triton decorates its own standard library), and importing torchrec imports triton:
# a test module collected early that imports torchrec (tests/distributed) would otherwise fix Triton in its
# compiled mode before a later folder's conftest could set it. Tests that stand for a user's shell remove it
# from the environment they give the CLI.
os.environ.setdefault("TRITON_INTERPRET", "1")

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding the pip-installed testkit (working) and brokenkit (raises on import)."""
    target = tmp_path_factory.mktemp("plugin-site")
    for name in ("testkit", "brokenkit"):
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
             "--target", str(target), str(FIXTURES / name)],
            check=True, capture_output=True,
        )
    return target


def cli_env(extra_path: Path | None = None, **overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DLRMBENCH_")}
    if extra_path is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(extra_path), env.get("PYTHONPATH", "")]))
    env.update(overrides)
    return env


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run ``dlrmbench ARGS`` in a fresh interpreter, exactly as a user would."""
    return subprocess.run([sys.executable, "-m", "dlrmbench", *args], cwd=cwd or REPO, env=env or cli_env(),
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def write_suite(tmp_path: Path):
    """Write a suite YAML into tmp_path and return its path."""

    def write(text: str, name: str = "suite.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


TINY_DEFAULTS = """
defaults:
  device: cpu
  batch_size: 256
  test_batch_size: 512
  timeout_s: 120
  progress_every: 5
  dataset:
    name: synthetic
    options: {train_samples: 4096, test_samples: 1024}
  model:
    bottom_mlp: [16, 8]
    top_mlp: [16, 1]
    embedding_dim: 8
    table_sizes: [50, 40, 30, 20]
  optimizer: {lr: 0.5, warmup_steps: 2, decay_start_step: 8, decay_steps: 8}
"""


def assert_page_shows_kit(page: Path, kit: Path) -> None:
    """Every .py/.toml file of the fixture ``kit`` is a block of ``page`` headed ``# <its path>``, verbatim,
    and the page shows no file the kit lacks: the documented example is the one the tests install."""
    import re

    blocks = dict(re.findall(r"```(?:python|toml)\n# (\S+)\n(.*?)```", page.read_text(), re.S))
    files = {str(p.relative_to(kit)): p.read_text() for p in sorted(kit.rglob("*"))
             if p.suffix in (".py", ".toml") and not {"build", "__pycache__"} & set(p.relative_to(kit).parts)}
    assert set(blocks) == set(files)
    for name, text in files.items():
        assert blocks[name] == text, f"{page.name} block for {name} differs from {kit / name}"
