"""A command whose optional extra is not installed says which one to install (exit non-zero, no traceback)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import cli_env, run_cli


def without(tmp_path: Path, *modules: str) -> dict[str, str]:
    """An environment in which importing ``modules`` fails as if they were not installed."""
    root = tmp_path / "not-installed"
    for name in modules:
        (root / name).mkdir(parents=True)
        (root / name / "__init__.py").write_text(f"raise ImportError('No module named {name}')\n")
    return cli_env(extra_path=root)


@pytest.mark.parametrize("modules, args, extra", [
    (("pyspark",), ["preprocess", "{in}", "{out}", "--skip-preflight"], "dlrmbench[preproc]"),
    (("pyarrow", "duckdb"), ["results", "export", "{results}", "--format", "parquet", "-o", "{out}.parquet"],
     "dlrmbench[results]"),
    (("pyarrow", "duckdb"), ["compare", "{out}.duckdb"], "dlrmbench[results]"),
    (("matplotlib",), ["report", "{results}", "--html", "{out}.html"], "dlrmbench[report]"),
])
def test_missing_extra_is_named(tmp_path, modules, args, extra):
    from tests.core.test_compare import make_run

    inp = tmp_path / "in"
    inp.mkdir()
    (inp / "day_0").write_text("1\t" + "\t" * 38 + "\n")
    (inp / "day_1").write_text("1\t" + "\t" * 38 + "\n")
    (tmp_path / "out.duckdb").write_bytes(b"")
    make_run(tmp_path / "results", "r1", {"a": [1.0]})
    fill = {"in": str(inp), "out": str(tmp_path / "out"), "results": str(tmp_path / "results")}
    result = run_cli(*[a.format(**fill) for a in args], env=without(tmp_path, *modules))
    assert result.returncode != 0
    assert f"pip install '{extra}'" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_triton_over_grpc_without_the_grpc_extra_names_it(tmp_path):
    """tritonclient installed without its grpc extra raises RuntimeError (not ImportError) on import of
    tritonclient.grpc; serve-bench and the planner name the extra instead of a traceback (issue 28)."""
    import importlib.util

    from dlrmbench.config.schema import ServeConfig
    from dlrmbench.export.requirements import missing_modules_reason

    export = tmp_path / "ex"
    export.mkdir()
    (export / "export.json").write_text(
        '{"format": "dlrmbench-export-1", "model": {"num_numerical": 13, "table_sizes": [10]}, '
        '"models": {"onnx": {"model": "dlrm", "parts": {"dense": {"file": "triton/dlrm/1/model.onnx"}}}}}')
    env = without(tmp_path, "grpc")
    result = run_cli("serve-bench", str(export), "--target", "triton", "--protocol", "grpc", "--no-save", env=env)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "pip install 'tritonclient[grpc]'" in result.stderr
    if importlib.util.find_spec("grpc") is None:
        reason = missing_modules_reason(ServeConfig(target="triton", protocol="grpc"))
        assert reason and "grpc" in reason and "pip install 'tritonclient[grpc]'" in reason


@pytest.mark.parametrize("client, serve, hidden, extra", [
    ("gRPC", {"target": "triton", "protocol": "grpc"}, ("grpc", "tritonclient.grpc"), "tritonclient[grpc]"),
    ("Triton", {"target": "triton", "protocol": "http"}, ("tritonclient", "tritonclient.http"), "dlrmbench[export]"),
    ("LoadGen", {"target": "pytorch", "scenario": "offline"}, ("mlperf_loadgen",), "dlrmbench[serve]"),
])
def test_each_missing_serving_client_names_its_extra(monkeypatch, client, serve, hidden, extra):
    """Where a user meets a missing client: the planner's skip, the worker's import before serving, and the
    client itself (serve-bench's Triton client; LoadGen's import)."""
    import importlib.util
    import sys

    from dlrmbench.config.schema import ServeConfig
    from dlrmbench.errors import UserError
    from dlrmbench.export.requirements import missing_modules_reason, require_modules
    from dlrmbench.export.serve_bench import TritonTarget
    from dlrmbench.loadgen.library import loadgen

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in hidden else find_spec(name, *a))
    for name in hidden:
        monkeypatch.setitem(sys.modules, name, None)  # importing it raises ImportError, as when not installed
    config = ServeConfig(**serve)
    planned = missing_modules_reason(config)
    assert planned and f"pip install '{extra}'" in planned, planned
    with pytest.raises(UserError) as worker:
        require_modules(config)
    with pytest.raises(UserError) as direct:
        if client == "LoadGen":
            loadgen()
        else:
            TritonTarget("localhost:1", serve["protocol"], "dlrm")
    for message in (worker.value.message, direct.value.message):
        assert f"pip install '{extra}'" in message, message
