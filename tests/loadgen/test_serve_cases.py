"""``mode: serve`` with ``serve.scenario``: a DLRM served under the real LoadGen by ``dlrmbench run --short``;
the result carries LoadGen's own numbers (checked against the summary files it keeps), compare reads them;
accuracy mode's AUC equals scikit-learn's on the same outputs; int8 and 4-bit serving stay close to fp32."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from dlrmbench.results.schema import CaseResult
from tests.conftest import TINY_DEFAULTS, run_cli
from tests.loadgen.accuracy_log import decoded_accuracy_log
from tests.loadgen.summary_file import summary_fields

pytest.importorskip("mlperf_loadgen")

SUITE = "name: lg\n" + TINY_DEFAULTS + """
cases:
  - name: offline
    mode: serve
    serve: {target: pytorch, scenario: offline, samples: 256, rows_per_sample: 2, batcher: {max_batch_size: 64},
            loadgen: {target_qps: 2000}}
  - name: search
    mode: serve
    serve: {target: pytorch, scenario: server, samples: 256, batcher: {max_batch_size: 32, max_wait_ms: 1},
            loadgen: {target_latency_ms: 100, min_query_count: 64},
            search: {lower_qps: 200, upper_qps: 800, max_runs: 3}}
  - name: single
    mode: serve
    serve: {target: torchscript, scenario: single_stream, samples: 256}
"""


@pytest.fixture(scope="module")
def lg_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, CaseResult], str]:
    root = tmp_path_factory.mktemp("loadgen-cases")
    suite = root / "suite.yaml"
    suite.write_text(SUITE)
    result = run_cli("run", str(suite), "--short", "-o", str(root / "results"), "--quiet")
    assert result.returncode == 0, result.stdout + result.stderr
    (run_dir,) = [p.parent for p in (root / "results").rglob("run.json")]
    results = {r.case: r for r in (CaseResult.model_validate_json(p.read_text())
                                   for p in (run_dir / "cases").glob("*.json"))}
    return run_dir, results, result.stdout



def _ns_ms(text: str) -> float:
    return int(text) / 1e6


def test_offline_result_carries_the_summary_files_numbers(lg_run):
    run_dir, results, _ = lg_run
    offline = results["offline"]
    assert offline.status == "ok" and offline.config["comparable"] is False
    assert offline.config["serve"]["short"] is True and "not valid for submission" in offline.config["tags"]["loadgen"]
    (record,) = offline.inference
    folder = run_dir / record["folder"]
    assert record["files"].startswith("mlperf_log_accuracy.json, mlperf_log_detail.txt, mlperf_log_summary.txt")
    text = summary_fields(folder / "mlperf_log_summary.txt")
    assert text["Scenario"] == "Offline" and text["Result is"] in ("VALID", "INVALID")
    assert offline.value("loadgen_throughput") == float(text["Samples per second"])
    assert offline.value("loadgen_valid") == (1.0 if text["Result is"] == "VALID" else 0.0)
    for q, label in (("p50", "50.00"), ("p99", "99.00"), ("max", "Max")):
        key = f"{label} percentile latency (ns)" if q != "max" else "Max latency (ns)"
        assert offline.value(f"loadgen_latency_{q}") == _ns_ms(text[key])
    assert offline.environment["loadgen_version"].startswith("6.")


def test_server_search_records_every_run_and_the_best_valid_rate(lg_run):
    run_dir, results, _ = lg_run
    search = results["search"]
    runs = search.inference
    assert len(runs) <= 3
    # the order of the bounded search: lower (halved while it fails), then upper, then bisection
    first_pass = next((i for i, r in enumerate(runs) if r["valid"]), None)
    expected = [200.0 / 2 ** k for k in range(len(runs) if first_pass is None else first_pass + 1)]
    if first_pass is not None and len(runs) > first_pass + 1:
        expected.append(800.0)
    if first_pass is not None and len(runs) > first_pass + 2:
        expected.append(runs[2]["target_qps"] if runs[first_pass + 1]["valid"] is False else None)
        assert expected[-1] == pytest.approx((runs[first_pass]["target_qps"] * 800.0) ** 0.5)
    assert [r["target_qps"] for r in runs] == expected
    for r in runs:
        text = summary_fields(run_dir / r["folder"] / "mlperf_log_summary.txt")
        assert float(text["target_qps"]) == r["target_qps"]
        assert r["valid"] == (text["Result is"] == "VALID")
        assert r["samples_per_s"] == float(text["Completed samples per second"])
        assert r["latency_p99_ms"] == _ns_ms(text["99.00 percentile latency (ns)"])
        assert r["setting_server_target_latency_ns"] == 100_000_000
    valid = [r["target_qps"] for r in runs if r["valid"]]
    assert search.value("loadgen_peak_qps") == (max(valid) if valid else None)
    if valid:  # the metrics are the best VALID run's
        best = next(r for r in runs if r["target_qps"] == max(valid))
        assert search.value("loadgen_throughput") == best["samples_per_s"]


def test_single_stream_gives_latency_percentiles_from_the_summary(lg_run):
    run_dir, results, _ = lg_run
    single = results["single"]
    (record,) = single.inference
    text = summary_fields(run_dir / record["folder"] / "mlperf_log_summary.txt")
    assert single.value("loadgen_scenario_latency") == _ns_ms(text["90.0th percentile latency (ns)"])
    values = [single.value(f"loadgen_latency_{q}") for q in ("p50", "p90", "p95", "p97", "p99", "p99.9")]
    assert values == sorted(values) and values[0] > 0
    assert single.environment["serving_target"].startswith("TorchScript")


def test_compare_and_export_read_loadgen_results(lg_run, tmp_path):
    run_dir, results, stdout = lg_run
    assert "LoadGen Offline:" in stdout
    shown = run_cli("compare", str(run_dir), "--format", "json")
    assert shown.returncode == 0, shown.stderr
    document = json.loads(shown.stdout)
    text = json.dumps(document)
    assert "loadgen_throughput" in text and "loadgen_scenario_latency" in text
    gate = run_cli("compare", str(run_dir), "--baseline", str(run_dir), "--fail-on-regression")
    assert gate.returncode == 0, gate.stdout + gate.stderr
    pandas = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    out = tmp_path / "rows.parquet"
    exported = run_cli("results", "export", str(run_dir), "--format", "parquet", "-o", str(out))
    assert exported.returncode == 0 and "Warning" not in exported.stdout + exported.stderr, exported.stderr
    rows = pandas.read_parquet(out)
    offline = rows[(rows["case"] == "offline") & (rows["name"] == "loadgen_throughput")]
    assert offline["value"].tolist() == [results["offline"].value("loadgen_throughput")]


# --- accuracy mode and serving precisions (in process) ---------------------------------------------------------

ACCURACY_CASE = {
    "name": "acc", "mode": "serve", "device": "cpu", "batch_size": 256, "seed": 3,
    "dataset": {"name": "synthetic", "options": {"train_samples": 1024, "test_samples": 2048}},
    "model": {"bottom_mlp": [16, 8], "top_mlp": [16, 1], "embedding_dim": 8, "table_sizes": [50, 40, 30, 20]},
}


@pytest.fixture(scope="module")
def accuracy_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple]:
    from dlrmbench.config.schema import Case
    from dlrmbench.workload.build import build_workload, resolve
    from dlrmbench.workload.reporter import Reporter
    from dlrmbench.export.serve_loadgen import run_loadgen

    root = tmp_path_factory.mktemp("accuracy")
    out = {}
    for precision, bits in (("fp32", 8), ("int8", 8), ("int8", 4)):
        serve = {"target": "pytorch", "scenario": "offline", "samples": 300, "rows_per_sample": 3,
                 "precision": precision, "table_bits": bits, "loadgen": {"mode": "accuracy"}, "short": True}
        case = Case.model_validate({**ACCURACY_CASE, "serve": serve})
        work = build_workload(resolve(case))
        records, facts, outcome = run_loadgen(work, Reporter(io.StringIO()), root / f"{precision}-{bits}")
        out[f"{precision}-{bits}"] = (work, records, outcome, root / f"{precision}-{bits}")
    return out


def test_accuracy_auc_equals_sklearn_on_the_logged_outputs_and_the_eager_reference(accuracy_runs):
    from sklearn.metrics import roc_auc_score

    from dlrmbench.export.serving_model import eager_logits

    for key, (work, records, outcome, folder) in accuracy_runs.items():
        outputs, labels, order = decoded_accuracy_log(folder / "offline")
        accuracy = outcome["accuracy"]
        assert accuracy["samples"] == 300 and accuracy["rows"] == 900
        assert accuracy["auc"] == pytest.approx(roc_auc_score(labels, outputs), abs=1e-12), key
        # the reference: the training model's own forward on the same rows, in the log's order
        batches = list(work.dataset.batches("test", 900, torch.device("cpu")))
        first = batches[0]
        rows = np.concatenate([np.arange(3 * i, 3 * i + 3) for i in order])
        logits = eager_logits(work.model, first.numerical, first.categorical).reshape(-1).numpy()
        expected = roc_auc_score(first.label.numpy()[rows], logits[rows])
        assert accuracy["reference_auc"] == pytest.approx(expected, abs=1e-12), key
        np.testing.assert_array_equal(labels, first.label.numpy()[rows])
        ratio = accuracy["auc"] / accuracy["reference_auc"]
        assert accuracy["meets"] == {"99%": ratio >= 0.99, "99.9%": ratio >= 0.999}
    fp32 = accuracy_runs["fp32-8"][2]["accuracy"]
    assert fp32["max_abs_diff"] <= 1e-6 and fp32["auc"] == pytest.approx(fp32["reference_auc"], abs=1e-9)


def test_int8_and_4bit_serving_stay_within_their_tolerances_of_fp32(accuracy_runs):
    from dlrmbench.export.serving_precision import PROBABILITY_TOLERANCE

    int8 = accuracy_runs["int8-8"][2]["accuracy"]
    int4 = accuracy_runs["int8-4"][2]["accuracy"]
    assert int8["tolerance"] == int4["tolerance"] == PROBABILITY_TOLERANCE["int8"]
    assert int8["within_tolerance"] is True and int4["within_tolerance"] is True
    assert 0 < int8["max_abs_diff"] <= PROBABILITY_TOLERANCE["int8"]
    assert 0 < int4["max_abs_diff"] <= PROBABILITY_TOLERANCE["int8"]
    assert int8["max_abs_diff"] < int4["max_abs_diff"]  # 8-bit tables are closer than 4-bit ones


def test_quantized_lookup_matches_the_fp32_lookup_within_row_quantisation_error():
    from dlrmbench.export.serving_model import SparseLookup
    from dlrmbench.export.serving_precision import QuantizedSparseLookup

    torch.manual_seed(0)
    tables = [torch.randn(30, 8), torch.randn(11, 8), torch.randn(5, 8)]
    for hotness in (None, [2, 1, 3]):
        fp32 = SparseLookup(tables, hash_indices=True, hotness=hotness)
        ids = torch.randint(0, 60, (9, int(fp32.offsets.numel())))
        want = fp32(ids)
        for bits in (8, 4):
            got = QuantizedSparseLookup(fp32, bits)(ids)
            assert got.shape == want.shape
            # row-wise: each entry within half a step of its row's range, per id summed over the bag
            step = max(float(t.max() - t.min()) for t in tables) / (2 ** bits - 1)
            bag = max(hotness or [1])
            assert float((got - want).abs().max()) <= bag * step / 2 + 1e-3, (hotness, bits)


@pytest.mark.parametrize(("serve", "message"), [
    ({"target": "pytorch"}, "target pytorch serves under LoadGen only; set serve.scenario"),
    ({"target": "onnxruntime", "scenario": "offline", "search": {"lower_qps": 1, "upper_qps": 2}},
     "search finds a Server QPS (this case has scenario offline)"),
    ({"target": "triton", "scenario": "offline", "precision": "int8"},
     "precision int8: a triton target serves what its server loaded; export that model with dlrmbench export "
     "--precision int8"),
    ({"target": "onnxruntime", "samples": 10}, "samples only apply under LoadGen; set serve.scenario"),
    ({"target": "pytorch", "scenario": "server", "search": {"lower_qps": 5, "upper_qps": 2}},
     "upper_qps 2.0 must be above lower_qps 5.0"),
])
def test_bad_serving_fields_are_refused_with_the_field_and_the_fix(serve, message):
    from pydantic import ValidationError

    from dlrmbench.config.schema import Case

    with pytest.raises(ValidationError, match=re.escape(message)):
        Case.model_validate({**ACCURACY_CASE, "serve": serve})


def test_bf16_serving_is_skipped_with_a_reason_where_the_cpu_has_no_native_bf16(monkeypatch):
    from dlrmbench.config.schema import Case
    from dlrmbench.runner import plan as planner

    case = Case.model_validate({**ACCURACY_CASE, "serve": {"target": "pytorch", "scenario": "offline",
                                                           "precision": "bf16"}})
    from dlrmbench.plugins import get_registry

    family = get_registry().get("family", case.model.family)
    monkeypatch.setattr("dlrmbench.cpu_features.native_bf16_reason", lambda flags=None: "no avx512_bf16 here")
    assert planner.serve_reason(case, family) == "serve precision bf16: no avx512_bf16 here"
    monkeypatch.setattr("dlrmbench.cpu_features.native_bf16_reason", lambda flags=None: None)
    assert planner.serve_reason(case, family) is None


def test_report_plots_the_server_search_latencies_against_the_rate(lg_run, tmp_path):
    pytest.importorskip("matplotlib")
    run_dir, results, _ = lg_run
    runs = [r for r in results["search"].inference if r.get("samples_per_s") is not None]
    out = tmp_path / "report.html"
    made = run_cli("report", str(run_dir), "--html", str(out), "--png", str(tmp_path / "png"))
    assert made.returncode == 0, made.stderr
    html = out.read_text()
    section = html.split("<h2>Server QPS search (MLPerf LoadGen)</h2>", 1)[1].split("<h2>", 1)[0]
    if len(runs) > 1:
        assert "<svg" in section and (tmp_path / "png" / "loadgen_search.png").is_file()
    else:
        assert "No Server QPS search." in section
