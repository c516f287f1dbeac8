"""The serving benchmark: its table against an independent count, its result files, and the Triton
target through the real tritonclient against a KServe-v2 server."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from dlrmbench.export.serve_bench import LocalTarget, ServeSettings, TritonTarget, measure_cell, run_serving


def _cli(*args: str):
    from dlrmbench.cli import make_cli

    return CliRunner().invoke(make_cli(), list(args), catch_exceptions=False)


class CountingTarget:
    """Wraps a target and counts the samples it answered, independently of the benchmark's books."""

    def __init__(self, inner):
        self.inner, self.description, self.samples = inner, inner.description, 0

    def client(self):
        call = self.inner.client()

        def counted(numerical, categorical):
            out = call(numerical, categorical)
            self.samples += len(out)
            return out

        return counted


def test_every_cell_is_measured_and_throughput_is_what_was_answered(whole_export):
    _, out, manifest = whole_export
    target = CountingTarget(LocalTarget(out, manifest, "onnx", threads=1))
    settings = ServeSettings(batch_sizes=(1, 16), concurrency=(1, 3), duration_s=0.15, warmup=2)
    cells = run_serving(target, manifest["model"], settings)
    assert [(c.batch_size, c.concurrency) for c in cells] == [(1, 1), (1, 3), (16, 1), (16, 3)]
    warmups = sum(settings.warmup * c.concurrency * c.batch_size for c in cells)
    assert target.samples - warmups == sum(c.requests * c.batch_size for c in cells)
    for cell in cells:
        assert cell.requests == len(cell.latencies_s) > 0
        assert cell.seconds >= settings.duration_s
        assert cell.samples_per_s == pytest.approx(cell.requests * cell.batch_size / cell.seconds)
        p = [cell.percentile_ms(q) for q in (50, 90, 95, 99)]
        assert p == sorted(p) and p[0] >= min(cell.latencies_s) * 1e3 and p[-1] <= max(cell.latencies_s) * 1e3


def test_serve_bench_writes_a_result_set_compare_reads(whole_export, tmp_path):
    from dlrmbench.results.load import load_results

    _, out, _ = whole_export
    result = _cli("serve-bench", str(out), "--batch-sizes", "1,8", "--concurrency", "1,2", "--duration", "0.1",
                  "--threads", "1", "-o", str(tmp_path))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["batch", "conc"])
    assert len(lines[header].split()) == 12 and max(len(line) for line in lines[header: header + 5]) <= 80
    rows = [line.split() for line in lines[header + 1: header + 5]]
    assert [(r[0], r[1]) for r in rows] == [("1", "1"), ("1", "2"), ("8", "1"), ("8", "2")]
    loaded = load_results([tmp_path])
    (result_set,) = loaded.sets
    (case,) = result_set.results
    assert case.case == "serve-onnxruntime" and case.config["mode"] == "serve" and case.status == "ok"
    assert len(case.inference) == 4
    for record in case.inference:  # batch size and concurrency are fields of the metrics, as in mode serve
        at = (record["batch_size"], record["concurrency"])
        assert case.value("serving_throughput", *at) == pytest.approx(
            record["requests"] * record["batch_size"] / record["seconds"])
        assert case.value("serving_requests", *at) == record["requests"]
        assert case.value("serving_latency_p99", *at) == record["latency_p99_ms"]
        assert case.metric("serving_latency_p99", *at).concurrency == record["concurrency"]
    assert case.environment.get("onnxruntime_version")


def test_serve_bench_refuses_what_is_not_an_export_and_bad_sizes(tmp_path, whole_export):
    result = _cli("serve-bench", str(tmp_path))
    assert result.exit_code == 2 and "no export.json here" in result.output
    _, out, _ = whole_export
    result = _cli("serve-bench", str(out), "--batch-sizes", "0,a", "--no-save")
    assert result.exit_code == 2 and "--batch-sizes" in result.output


@pytest.fixture
def fake_triton(whole_export):
    pytest.importorskip("tritonclient.http", reason="tritonclient is part of the export extra")
    from tests.export.fake_triton import serve

    _, out, manifest = whole_export
    server, address = serve(out, manifest)
    yield address
    server.shutdown()
    server.server_close()


def test_triton_target_answers_what_the_export_computes(whole_export, fake_triton):
    from dlrmbench.export.check import Predictor, random_inputs

    model, out, manifest = whole_export
    target = TritonTarget(fake_triton, "http", "dlrm")
    numerical, categorical = random_inputs(manifest["model"], 32, 9)
    answer = target.client()(numerical, categorical)
    local = Predictor(out, manifest["models"]["onnx"], "onnx").predict(numerical, categorical)
    assert answer.shape == (32, 1) and np.array_equal(answer, local)
    cell = measure_cell(target, [(numerical, categorical)], 32, 2, duration_s=0.1, warmup=1)
    assert cell.requests > 0 and cell.concurrency == 2


def test_serve_bench_against_triton_from_the_command_line(whole_export, fake_triton, tmp_path):
    _, out, _ = whole_export
    result = _cli("serve-bench", str(out), "--target", "triton", "--url", fake_triton, "--batch-sizes", "4",
                  "--concurrency", "1", "--duration", "0.1", "-o", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert f"Triton http {fake_triton}, model dlrm" in result.output
    assert (next((tmp_path / "serving").iterdir()) / "cases" / "serve-triton.json").is_file()


def test_unreachable_triton_or_unknown_model_is_a_clear_error(whole_export, fake_triton, tmp_path):
    _, out, _ = whole_export
    result = _cli("serve-bench", str(out), "--target", "triton", "--url", "127.0.0.1:9", "--no-save")
    assert result.exit_code == 2 and "no Triton server answers at 127.0.0.1:9" in result.output
    result = _cli("serve-bench", str(out), "--target", "triton", "--url", fake_triton, "--model", "other",
                  "--no-save")
    assert result.exit_code == 2 and "model 'other' is not ready" in result.output
    assert list(tmp_path.iterdir()) == []


def test_a_damaged_or_hostile_manifest_is_refused(whole_export, tmp_path):
    import json
    import shutil

    _, out, manifest = whole_export
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    for change, message in (
        (lambda m: m["models"]["onnx"]["parts"]["model"].update(file="../../etc/passwd"), "path inside the export"),
        (lambda m: m["model"].update(table_sizes=[10, -1]), "model.table_sizes must be"),
        (lambda m: m.pop("models"), "'model' or 'models' is missing"),
    ):
        damaged = json.loads(json.dumps(manifest))
        change(damaged)
        (copy / "export.json").write_text(json.dumps(damaged))
        result = _cli("serve-bench", str(copy), "--no-save")
        assert result.exit_code == 2 and message in result.output and "re-run dlrmbench export" in result.output
    (copy / "export.json").write_bytes(b"\xff\xfe{")
    result = _cli("serve-bench", str(copy), "--no-save")
    assert result.exit_code == 2 and "not valid JSON" in result.output


def test_batch_and_concurrency_are_bounded(whole_export):
    _, out, _ = whole_export
    result = _cli("serve-bench", str(out), "--batch-sizes", "2000000", "--no-save")
    assert result.exit_code == 2 and "between 1 and 1,048,576" in result.output
    result = _cli("serve-bench", str(out), "--concurrency", "1000", "--no-save")
    assert result.exit_code == 2 and "between 1 and 256" in result.output
