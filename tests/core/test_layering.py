"""Architecture rules that keep the core light and one-way."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from dlrmbench import hookspecs
from tests.conftest import REPO


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_core_never_imports_builtin_plugins():
    for path in (REPO / "dlrmbench").rglob("*.py"):
        offending = {n for n in _imports(path) if n.split(".")[0] == "dlrmbench_plugins"}
        assert not offending, f"{path} imports {offending}: the core reaches plugins only through entry points"


def test_preproc_imports_neither_dlrmbench_nor_torch():
    for path in (REPO / "preproc").rglob("*.py"):
        offending = {n for n in _imports(path) if n.split(".")[0] in ("dlrmbench", "dlrmbench_plugins", "torch")}
        assert not offending, f"{path} imports {offending}"


def test_plugin_registration_modules_do_not_import_torch_at_module_level():
    for path in (REPO / "plugins").rglob("*.py"):
        source = path.read_text()
        if "@hookimpl" not in source:
            continue
        top_level = {n for node in ast.parse(source).body if isinstance(node, (ast.Import, ast.ImportFrom))
                     for n in ([a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""])}
        assert not {n for n in top_level if n.split(".")[0] in ("torch", "triton", "pandas", "pyspark")}, path


def test_every_hook_is_documented():
    specs = [f for name, f in inspect.getmembers(hookspecs, inspect.isfunction) if hasattr(f, "dlrmbench_spec")]
    assert {f.__name__ for f in specs} >= {"register_backends", "register_embeddings", "register_datasets",
                                          "register_commands", "environment_info"}
    for spec in specs:
        assert spec.__doc__ and len(spec.__doc__.strip()) > 40, f"hook {spec.__name__} needs a docstring"
