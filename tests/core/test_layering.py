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


# --- One-way flow: suite -> plan -> run -> results -> report, plugins on top --------------------

def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _core_modules() -> dict[str, Path]:
    return {_module_name(p): p for p in (REPO / "dlrmbench").rglob("*.py")}


def _core_imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """Every dlrmbench module ``path`` imports, at module level or inside a function."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == "dlrmbench")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "dlrmbench":
            for alias in node.names:  # ``from dlrmbench import distributed`` imports the package distributed
                child = f"{node.module}.{alias.name}"
                out.add(child if child in modules else node.module)
    return {m for m in out if m in modules}


def _import_graph() -> dict[str, set[str]]:
    modules = _core_modules()
    return {name: _core_imports(path, modules) - {name} for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles_in_the_core() -> None:
    assert _cycles(_import_graph()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def _imports_of(prefix: str) -> dict[str, set[str]]:
    return {m: deps for m, deps in _import_graph().items() if m == prefix or m.startswith(prefix + ".")}


def test_runner_reaches_distributed_only_through_its_package_facade() -> None:
    for module, deps in _imports_of("dlrmbench.runner").items():
        internals = {d for d in deps if d.startswith("dlrmbench.distributed.")}
        assert not internals, f"{module} imports {internals}: call dlrmbench.distributed's functions instead"


def test_distributed_never_calls_back_into_the_runner() -> None:
    for module, deps in _imports_of("dlrmbench.distributed").items():
        back = {d for d in deps if d.startswith("dlrmbench.runner") or d.startswith("dlrmbench.cli")}
        assert not back, f"{module} imports {back}"


LATER_STAGES = {
    # a stage never imports a later one (suite -> plan -> run -> results -> report)
    "dlrmbench.config": ("dlrmbench.runner", "dlrmbench.workload", "dlrmbench.distributed", "dlrmbench.model",
                         "dlrmbench.results", "dlrmbench.report", "dlrmbench.cli", "dlrmbench.telemetry"),
    "dlrmbench.results": ("dlrmbench.runner", "dlrmbench.workload", "dlrmbench.distributed", "dlrmbench.model",
                          "dlrmbench.report", "dlrmbench.cli"),
    "dlrmbench.report": ("dlrmbench.runner", "dlrmbench.workload", "dlrmbench.distributed", "dlrmbench.model",
                         "dlrmbench.cli"),
    "dlrmbench.model": ("dlrmbench.runner", "dlrmbench.workload", "dlrmbench.distributed", "dlrmbench.results",
                        "dlrmbench.report", "dlrmbench.cli"),
    "dlrmbench.batch": ("dlrmbench.",),  # the bottom of the core
}


def test_no_stage_imports_a_later_one() -> None:
    for stage, later in LATER_STAGES.items():
        for module, deps in _imports_of(stage).items():
            bad = {d for d in deps if d.startswith(later)}
            assert not bad, f"{module} imports {bad}: data flows one way (suite -> plan -> run -> results -> report)"


def test_config_does_not_import_the_plugin_registry() -> None:
    """Loading and validating a suite's schema never builds the plugin manager; only the loader's optional
    plugin check (``check_plugins``) asks the registry, inside the function."""
    for module, path in _core_modules().items():
        if module.startswith("dlrmbench.config"):
            top = {n.module for n in ast.parse(path.read_text()).body if isinstance(n, ast.ImportFrom)}
            top |= {a.name for n in ast.parse(path.read_text()).body if isinstance(n, ast.Import) for a in n.names}
            assert "dlrmbench.plugins" not in top, f"{module} imports the plugin registry at module level"
    code = ("import sys; import dlrmbench.config.schema, dlrmbench.config.loader, dlrmbench.config.variants, "
            "dlrmbench.config.capabilities; assert 'dlrmbench.plugins' not in sys.modules")
    import subprocess
    import sys

    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_the_contract_module_stays_light() -> None:
    import subprocess
    import sys

    code = ("import sys; import dlrmbench.plugin_api, dlrmbench.hookspecs, dlrmbench.batch, dlrmbench.devices, "
            "dlrmbench.precisions; assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


# --- Folders: one-way between them too ---------------------------------------------------------

def _unit(module: str) -> str:
    """The layering unit of a core module: its folder (``dlrmbench.workload``) or, at the top, itself."""
    parts = module.split(".")
    if len(parts) > 2 or (REPO / Path(*parts)).is_dir():
        return ".".join(parts[:2])
    return module


def folder_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for module, deps in graph.items():
        out.setdefault(_unit(module), set()).update(_unit(d) for d in deps if _unit(d) != _unit(module))
    return out


def test_no_import_cycles_between_folders() -> None:
    """``workload`` never imports ``export`` or ``mlperf`` back, and no other pair of folders (or top-level
    modules) reaches each other both ways."""
    graph = _import_graph()
    folders = folder_graph(graph)
    cycles = _cycles(folders)
    edges = [f"{m} -> {d}" for c in cycles for m, deps in graph.items() for d in deps
             if _unit(m) in c and _unit(d) in c and _unit(m) != _unit(d)]
    assert cycles == [], "folder cycles: " + "; ".join(edges)


def test_the_folder_cycle_finder_sees_a_cycle_made_of_modules() -> None:
    graph = {"dlrmbench.workload.a": {"dlrmbench.export.b"}, "dlrmbench.export.b": set(),
             "dlrmbench.export.c": {"dlrmbench.workload.d"}, "dlrmbench.workload.d": set()}
    assert _cycles(folder_graph(graph)) == [["dlrmbench.export", "dlrmbench.workload"]]
