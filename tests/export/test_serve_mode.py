"""``mode: serve`` as a suite case: ``dlrmbench run`` exports the case's model, serves it, and records every
batch size x concurrency cell as normal metrics that ``compare`` reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dlrmbench.results.schema import CaseResult
from tests.conftest import TINY_DEFAULTS, run_cli
from dlrmbench.workload.build import resolve

SERVE_SUITE = "name: served\n" + TINY_DEFAULTS + """
cases:
  - name: onnx
    mode: serve
    serve: {target: onnxruntime, batch_sizes: [1, 8], concurrency: [1, 2], duration_s: 0.1, warmup: 1,
            threads: 1}
  - name: ts
    mode: serve
    serve: {target: torchscript, batch_sizes: [4], concurrency: [3], duration_s: 0.1, warmup: 0,
            export_to: "OUT/{case}-export"}
"""


@pytest.fixture(scope="module")
def served_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, CaseResult]]:
    """One `dlrmbench run` of two tiny serve cases, shared by the tests of this module."""
    root = tmp_path_factory.mktemp("serve-mode")
    suite = root / "suite.yaml"
    suite.write_text(SERVE_SUITE.replace("OUT", str(root)))
    result = run_cli("run", str(suite), "-o", str(root / "results"), "--quiet")
    assert result.returncode == 0, result.stdout + result.stderr
    (run_dir,) = [p.parent for p in (root / "results").rglob("run.json")]
    results = {r.case: r for r in (CaseResult.model_validate_json(p.read_text())
                                   for p in (run_dir / "cases").glob("*.json"))}
    return root, results


def test_every_cell_is_recorded_with_batch_size_and_concurrency_as_fields(served_run):
    _, results = served_run
    onnx = results["onnx"]
    assert onnx.status == "ok" and onnx.config["mode"] == "serve"
    cells = [(r["batch_size"], r["concurrency"]) for r in onnx.inference]
    assert cells == [(1, 1), (1, 2), (8, 1), (8, 2)]
    for record in onnx.inference:
        at = (record["batch_size"], record["concurrency"])
        requests, seconds, batch = record["requests"], record["seconds"], record["batch_size"]
        assert requests > 0 and seconds >= 0.1
        assert onnx.value("serving_requests", *at) == requests
        # throughput from the count of answered requests and the measured window, recomputed here
        assert onnx.value("serving_throughput", *at) == pytest.approx(requests * batch / seconds, rel=1e-12)
        assert onnx.value("serving_request_rate", *at) == pytest.approx(requests / seconds, rel=1e-12)
        latencies = [onnx.value(f"serving_latency_p{q}", *at) for q in (50, 90, 95, 99)]
        assert latencies == sorted(latencies) and latencies[0] > 0
        # a closed loop of c clients: each waits for its answer, so c / rate bounds the mean latency
        assert onnx.value("serving_latency_mean", *at) <= 1e3 * at[1] * seconds / requests * 1.0001
        metric = onnx.metric("serving_throughput", *at)
        assert (metric.name, metric.batch_size, metric.concurrency) == ("serving_throughput", *at)
        assert metric.unit == "samples/s" and metric.higher_is_better is True
    assert all("@" in key and ":c" in key for key in onnx.metrics if key.startswith("serving_"))
    check = onnx.environment["serving_export"]["check"]["onnx"]
    assert check["passed"] and check["max_abs_diff"] <= check["tolerance"] <= 1e-5 * 10
    assert onnx.environment["onnxruntime_version"] and "onnxruntime" in onnx.environment["serving_target"]
    assert onnx.value("embedding_parameter_bytes") == 4 * 8 * (50 + 40 + 30 + 20)


def test_torchscript_case_keeps_its_export_where_the_case_says(served_run):
    root, results = served_run
    ts = results["ts"]
    assert ts.status == "ok" and [(r["batch_size"], r["concurrency"]) for r in ts.inference] == [(4, 3)]
    kept = root / "ts-export"
    manifest = json.loads((kept / "export.json").read_text())
    assert list(manifest["models"]) == ["torchscript"] and manifest["check"]["torchscript"]["passed"]
    assert (kept / "triton" / manifest["models"]["torchscript"]["model"] / "config.pbtxt").is_file()
    assert ts.environment["serving_export"]["kept_at"] == str(kept)


def test_compare_shows_serving_rows_per_batch_and_concurrency(served_run):
    root, _ = served_run
    result = run_cli("compare", str(root / "results"), "--format", "json")
    assert result.returncode == 0, result.stderr
    rows = {(r["case"], r["metric"], r["batch_size"], r["concurrency"]) for r in json.loads(result.stdout)["rows"]}
    # the headline of a serve case: serving throughput at the largest batch with the most clients
    assert rows == {("onnx", "serving_throughput", 8, 2), ("ts", "serving_throughput", 4, 3)}
    result = run_cli("compare", str(root / "results"), "--metric", "serving_latency_p99@8", "--format", "json")
    rows = [(r["case"], r["batch_size"], r["concurrency"]) for r in json.loads(result.stdout)["rows"]]
    assert rows == [("onnx", 8, 1), ("onnx", 8, 2)]
    result = run_cli("compare", str(root / "results"), "--metric", "serving_latency_p99@8:c2")
    assert result.returncode == 0 and "serving_latency_p99 @ batch 8, 2 clients" in result.stdout
    result = run_cli("compare", str(root / "results"), "--metric", "serving_latency_p99@8:two")
    assert result.returncode == 2 and "must be 'c' and a whole number" in result.stderr


def test_the_count_of_requests_is_what_the_clients_sent(monkeypatch):
    """In process, with the local target's client wrapped to count calls: serving_requests is exactly the
    number of timed calls (all calls minus the warm-up ones)."""
    from dlrmbench.config.schema import Case
    from dlrmbench.export.serve_bench import LocalTarget
    from dlrmbench.runner.worker import run_case
    from dlrmbench.workload.reporter import Reporter

    calls: dict[int, int] = {}
    original = LocalTarget.client

    def counting(self):
        predict = original(self)

        def call(numerical, categorical):
            calls[len(numerical)] = calls.get(len(numerical), 0) + 1
            return predict(numerical, categorical)

        return call

    monkeypatch.setattr(LocalTarget, "client", counting)
    case = Case.model_validate({
        "name": "count", "device": "cpu", "mode": "serve", "batch_size": 64,
        "dataset": {"name": "synthetic", "options": {"train_samples": 256, "test_samples": 256}},
        "model": {"bottom_mlp": [8], "top_mlp": [8, 1], "embedding_dim": 8, "table_sizes": [9, 8, 7]},
        "serve": {"target": "torchscript", "batch_sizes": [2, 5], "concurrency": [2], "duration_s": 0.05,
                  "warmup": 3, "check": False}})
    reporter = Reporter(None)
    run_case(resolve(case), reporter)
    (result,) = [e for e in reporter.events if e["event"] == "result"]
    for batch in (2, 5):
        recorded = result["metrics"][f"serving_requests@{batch}:c2"]["value"]
        assert recorded == calls[batch] - 3 * 2  # 3 warm-up requests per client, 2 clients


@pytest.mark.parametrize("case, field, fix", [
    ("{name: a, mode: train, serve: {target: onnxruntime}}", "cases[0]", "set mode: serve or drop the serve key"),
    ("{name: a, mode: serve, precision: amp}", "cases[0]", "set precision: fp32"),
    ("{name: a, mode: serve, serve: {target: tensorrt}}", "cases[0].serve.target", "'onnxruntime'"),
    ("{name: a, mode: serve, serve: {concurrency: [0]}}", "cases[0].serve.concurrency[0]", "greater than or equal"),
    ("{name: a, mode: serve, serve: {batch_sizes: [8, 8]}}", "cases[0].serve.batch_sizes", "list each once"),
    ("{name: a, mode: serve, serve: {duraton_s: 1}}", "cases[0].serve.duraton_s", "duration_s"),
])
def test_a_bad_serve_case_is_refused_naming_file_field_and_fix(write_suite, case, field, fix):
    suite = write_suite(f"name: bad\ncases:\n  - {case}\n")
    result = run_cli("validate", str(suite))
    assert result.returncode == 2, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert str(suite) in output and field in output and fix in output, output
    assert "Traceback" not in output


def _planned(case: dict, monkeypatch=None):
    from dlrmbench.config.schema import Case
    from dlrmbench.host import current_host
    from dlrmbench.plugins import get_registry
    from dlrmbench.runner.plan import plan

    base = {"name": "s", "device": "cpu", "mode": "serve",
            "model": {"bottom_mlp": [8], "top_mlp": [8, 1], "embedding_dim": 8, "table_sizes": [9, 8]}}
    (planned,) = plan([Case.model_validate({**base, **case})], current_host(), get_registry())
    return planned


def test_a_missing_runtime_is_a_skip_that_names_the_extra(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("onnxruntime", "tritonclient") else real(name, *a))
    assert _planned({"serve": {"target": "onnxruntime"}}).skip_reason == (
        "serve target onnxruntime: onnxruntime is not installed (pip install 'dlrmbench[export]')")
    assert "tritonclient is not installed (pip install 'tritonclient[grpc]')" in _planned(
        {"serve": {"target": "triton", "protocol": "grpc", "check": False}}).skip_reason
    assert _planned({"serve": {"target": "torchscript"}}).runnable  # needs only torch


def test_a_runtime_that_fails_to_import_fails_the_case_naming_the_extra(tmp_path, write_suite):
    from tests.core.test_missing_extras import without

    suite = write_suite("name: s\n" + TINY_DEFAULTS + "cases:\n  - {name: a, mode: serve, serve: {duration_s: 0.05}}\n")
    result = run_cli("run", str(suite), "-o", str(tmp_path / "r"), "--quiet", env=without(tmp_path, "onnxruntime"))
    (case_file,) = (tmp_path / "r").rglob("cases/a*.json")
    recorded = CaseResult.model_validate_json(case_file.read_text())
    assert recorded.status == "failed" and result.returncode != 0
    assert recorded.reason == ("bad input: serve target onnxruntime: onnxruntime is not installed "
                               "(pip install 'dlrmbench[export]')")


def test_multi_hot_data_is_served_and_scale_down_shortens_the_cells():
    from dlrmbench.config.schema import Case
    from dlrmbench.config.variants import SCALED_SERVE_SECONDS, scale_down
    from dlrmbench.host import current_host

    planned = _planned({"dataset": {"name": "synthetic", "options": {"multi_hot_sizes": [3, 1]}}})
    assert planned.runnable and planned.hotness == [3, 1]  # exported with a (B, 4) categorical input
    case = Case.model_validate({"name": "s", "device": "cpu", "mode": "serve",
                                "serve": {"batch_sizes": [1, 64, 8192], "duration_s": 5, "warmup": 9}})
    small = scale_down(case, current_host())
    assert small.serve.batch_sizes == [1, 64] and small.serve.duration_s == SCALED_SERVE_SECONDS
    assert small.serve.warmup == 2 and small.comparable is False
    assert Case.model_validate({"name": "d", "mode": "serve"}).serve.target == "onnxruntime"  # the defaults


def test_an_export_that_differs_fails_the_case_and_leaves_no_folder(monkeypatch, tmp_path):
    import tempfile

    from dlrmbench.config.schema import Case
    from dlrmbench.export import check
    from dlrmbench.export.exporter import ExportMismatch
    from dlrmbench.runner.worker import run_case
    from dlrmbench.workload.reporter import Reporter

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(check, "check_export", lambda model, root, manifest: {
        "torchscript": {"max_abs_diff": 0.5, "tolerance": 1e-5, "passed": False}})
    case = Case.model_validate({
        "name": "differs", "device": "cpu", "mode": "serve",
        "model": {"bottom_mlp": [8], "top_mlp": [8, 1], "embedding_dim": 8, "table_sizes": [9, 8]},
        "dataset": {"name": "synthetic", "options": {"train_samples": 64, "test_samples": 64}},
        "serve": {"target": "torchscript", "batch_sizes": [2], "concurrency": [1], "duration_s": 0.05}})
    with pytest.raises(ExportMismatch, match=r"torchscript: 0.5 \(tolerance 1e-05\)"):
        run_case(resolve(case), Reporter(None))
    assert list(tmp_path.iterdir()) == []  # neither the export nor its scratch folder is left behind
