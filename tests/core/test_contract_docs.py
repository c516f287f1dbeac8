"""The documented plugin contract is the called one: hook docs, interfaces, built-ins and the README."""

from __future__ import annotations

import ast
import inspect

import pytest

from dlrmbench import hookspecs, plugin_api
from dlrmbench.plugins import REGISTRATION_HOOKS, get_registry
from tests.conftest import FIXTURES, REPO, assert_page_shows_kit

# hook -> (interface, the methods its documentation must spell out with their exact arguments)
DOCUMENTED = {
    "register_families": (plugin_api.WorkloadFamily, ("build_model", "model_inputs", "target", "loss", "eval_rows",
                                                      "metrics", "check_batch")),
    "register_topologies": (plugin_api.TopologyRunner, ("run",)),
    "register_telemetry": (plugin_api.TelemetrySource, ("open",)),
    "register_backends": (plugin_api.DenseBackend, ("mlp", "interaction", "finalize")),
    "register_embeddings": (plugin_api.EmbeddingStrategy, ("__call__", "reset_parameters", "parameter_bytes",
                                                           "set_learning_rate")),
    "register_interactions": (plugin_api.Interaction, ("__call__",)),
    "register_optimizers": (plugin_api.OptimizerPlugin, ("build",)),
    "register_datasets": (plugin_api.Dataset, ("table_sizes", "batches")),
}


def _arguments(function: object) -> list[str]:
    return [p for p in inspect.signature(function).parameters if p != "self"]  # type: ignore[arg-type]


def test_every_plugin_kind_has_a_registration_hook_documented_with_its_interface() -> None:
    assert set(REGISTRATION_HOOKS) == set(plugin_api.KINDS)
    assert set(REGISTRATION_HOOKS.values()) == set(DOCUMENTED)
    for hook_name, (interface, methods) in DOCUMENTED.items():
        doc = getattr(hookspecs, hook_name).__doc__
        assert "factory(ctx: BuildContext)" in doc, hook_name
        assert interface.__name__ in doc, f"{hook_name} must name {interface.__name__}"
        for method in methods:
            written = "forward" if method == "__call__" else method
            expected = f"{written}({', '.join(_arguments(getattr(interface, method)))})"
            assert expected in doc, f"{hook_name}: documents no {expected!r}"


def test_the_core_builds_every_plugin_with_one_build_context() -> None:
    """Factories are called in exactly one place, ``PluginSpec.build(ctx)``."""
    calls = []
    for path in (REPO / "dlrmbench").rglob("*.py"):
        calls += [f"{path.relative_to(REPO)}:{n.lineno}" for n in ast.walk(ast.parse(path.read_text()))
                  if isinstance(n, ast.Call) and isinstance(n.func, ast.Call)
                  and isinstance(n.func.func, ast.Attribute) and n.func.func.attr == "load"]
    assert calls == ["dlrmbench/plugin_api.py:" + str(_line_of_build_call())]
    assert _arguments(plugin_api.PluginSpec.build) == ["ctx"]


def _line_of_build_call() -> int:
    source, start = inspect.getsourcelines(plugin_api.PluginSpec.build)
    return start + next(i for i, line in enumerate(source) if "self.load()(ctx)" in line)


@pytest.mark.parametrize("kind", plugin_api.KINDS)
def test_every_builtin_factory_takes_one_build_context(kind: str) -> None:
    for spec in get_registry().specs[kind].values():
        if spec.source.startswith("dlrmbench "):  # the built-ins (third-party fixtures are tested end to end)
            factory = spec.load()
            params = list(inspect.signature(factory).parameters.values())
            assert len(params) == 1 or (len(params) > 1 and all(p.default is not p.empty for p in params[1:])), \
                f"{kind} {spec.name}: factory {spec.factory} must take one BuildContext"


def test_builtin_backends_implement_the_documented_methods() -> None:
    for spec in get_registry().specs["backend"].values():
        module_name, _, _ = spec.factory.partition(":")
        module = __import__(module_name, fromlist=["*"])
        classes = [c for _, c in inspect.getmembers(module, inspect.isclass)
                   if c.__module__ == module.__name__ and hasattr(c, "mlp")]
        assert classes, spec.factory
        for cls in classes:
            for method in ("mlp", "interaction", "finalize"):
                assert _arguments(getattr(cls, method)) == _arguments(getattr(plugin_api.DenseBackend, method)), \
                    f"{cls.__name__}.{method}"


def test_the_plugin_guide_shows_the_example_plugin_that_the_tests_install() -> None:
    """Every file of tests/fixtures/examplekit appears in the documentation's plugin guide, verbatim."""
    assert_page_shows_kit(REPO / "docs/guides/write-a-plugin.md", FIXTURES / "examplekit")
