"""The LoadGen path's generic parts: batcher, sample library, settings, summary and accuracy-log readers, QPS
search, and the message when LoadGen is missing. Real LoadGen where a test needs it; a trivial numpy model."""

from __future__ import annotations

import ctypes
import json
import re
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from dlrmbench.config.schema import LoadgenConfig, SearchConfig
from dlrmbench.errors import UserError
from dlrmbench.loadgen.qsl import DLRMV2_QUANTILES, RowLibrary, fixed_offsets, quantile_offsets
from dlrmbench.loadgen.search import search_qps
from dlrmbench.loadgen.sut import Batcher


class FakeLoadgen:
    """Stands in for ``mlperf_loadgen``'s response calls: copies each response's bytes when completed (as
    LoadGen does) and records which thread completed how many samples."""

    def __init__(self) -> None:
        self.answers: dict[int, bytes] = {}
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.expected = 0

    @staticmethod
    def QuerySampleResponse(sample_id: int, pointer: int, size: int) -> SimpleNamespace:  # noqa: N802
        return SimpleNamespace(id=sample_id, pointer=pointer, size=size)

    def QuerySamplesComplete(self, responses: list[SimpleNamespace]) -> None:  # noqa: N802
        with self.lock:
            for r in responses:
                self.answers[r.id] = ctypes.string_at(r.pointer, r.size) if r.size else b""
            if len(self.answers) >= self.expected:
                self.done.set()


def _library(seed: int = 0) -> tuple[RowLibrary, np.ndarray]:
    rng = np.random.default_rng(seed)
    bounds = quantile_offsets(600, (1, 2, 5), seed)
    rows = int(bounds[-1])
    x = rng.standard_normal((rows, 3)).astype(np.float32)
    labels = (rng.random(rows) > 0.5).astype(np.float32)
    return RowLibrary((x,), labels, bounds), x


def test_batcher_answers_every_sample_with_its_own_rows_as_output_label_pairs():
    library, x = _library()
    weights = np.array([0.5, -1.0, 2.0], dtype=np.float32)
    seen_batches: list[int] = []

    def model(inputs: tuple[np.ndarray, ...]) -> np.ndarray:
        seen_batches.append(inputs[0].shape[0])
        return inputs[0] @ weights

    lg = FakeLoadgen()
    count = library.total_samples
    order = np.random.default_rng(1).permutation(count)
    lg.expected = count
    batcher = Batcher(library, model, max_batch_size=7, max_wait_ms=2.0, workers=3, lg=lg)
    for start in range(0, count, 13):  # queries of 13 samples, ids unlike the indices
        batcher.issue([SimpleNamespace(id=10_000 + int(i), index=int(i)) for i in order[start:start + 13]])
    assert lg.done.wait(10)
    batcher.stop()
    for index in range(count):
        a, b = library.rows_of(index)
        got = np.frombuffer(lg.answers[10_000 + index], dtype=np.float32).reshape(-1, 2)
        np.testing.assert_array_equal(got[:, 1], library.labels[a:b])
        np.testing.assert_allclose(got[:, 0], x[a:b] @ weights, rtol=1e-6)
    assert max(batcher.batch_sizes) <= 7 and sum(batcher.batch_sizes) == count


def test_batcher_waits_for_more_samples_up_to_max_wait():
    library, _ = _library()
    lg = FakeLoadgen()
    lg.expected = 4
    batcher = Batcher(library, lambda inputs: inputs[0][:, 0], max_batch_size=4, max_wait_ms=500, workers=1, lg=lg)
    for i in range(4):  # one sample per query, as Server issues them
        batcher.issue([SimpleNamespace(id=i, index=i)])
        time.sleep(0.01)
    assert lg.done.wait(5)
    batcher.stop()
    assert batcher.batch_sizes == [4]


def test_a_failing_model_call_still_answers_and_stop_raises_it():
    library, _ = _library()
    lg = FakeLoadgen()
    lg.expected = 3

    def broken(inputs: tuple[np.ndarray, ...]) -> np.ndarray:
        raise ValueError("kernel exploded")

    batcher = Batcher(library, broken, max_batch_size=8, max_wait_ms=0, workers=2, lg=lg)
    batcher.issue([SimpleNamespace(id=i, index=i) for i in range(3)])
    assert lg.done.wait(5)
    assert lg.answers == {0: b"", 1: b"", 2: b""}
    with pytest.raises(RuntimeError, match="kernel exploded"):
        batcher.stop()


def test_sample_boundaries_fixed_and_drawn_from_the_reference_quantiles():
    np.testing.assert_array_equal(fixed_offsets(10, 4), [0, 4, 8, 10])
    bounds = quantile_offsets(50_000, DLRMV2_QUANTILES, seed=3)
    sizes = np.diff(bounds)
    assert bounds[0] == 0 and bounds[-1] == 50_000
    assert set(sizes[:-1].tolist()) <= set(DLRMV2_QUANTILES)
    # 20 equally likely quantiles: the mean size is their mean (265), within sampling error
    assert abs(sizes[:-1].mean() - np.mean(DLRMV2_QUANTILES)) < 20
    with pytest.raises(ValueError, match="bounds"):
        RowLibrary((np.zeros((3, 1)),), np.zeros(3), np.array([0, 2]))


def _fake_run(valid: bool) -> SimpleNamespace:
    return SimpleNamespace(summary=SimpleNamespace(valid=valid))


def test_search_bisects_between_the_bounds_and_keeps_every_run():
    tried: list[float] = []

    def run_at(qps: float) -> SimpleNamespace:
        tried.append(qps)
        return _fake_run(qps <= 1000)

    outcome = search_qps(run_at, SearchConfig(lower_qps=100, upper_qps=1600, max_runs=6, tolerance=0.01))
    # lower, upper, then geometric midpoints: 400 and 800 pass, sqrt(800 * 1600) fails, then between those
    expected = [100, 1600, 400, 800, 800 * 2 ** 0.5]
    expected.append((800 * expected[-1]) ** 0.5)
    assert tried == pytest.approx(expected)
    assert outcome.best_qps == pytest.approx(expected[5]) and [q for q, _ in outcome.runs] == tried
    assert f"run budget (6) spent: {expected[5]:g} QPS passes, {expected[4]:g} QPS fails" in outcome.ended


def test_search_says_when_the_upper_bound_passes_or_nothing_passes():
    up = search_qps(lambda q: _fake_run(True), SearchConfig(lower_qps=10, upper_qps=20))
    assert up.best_qps == 20 and "raise search.upper_qps" in up.ended
    tried: list[float] = []
    none = search_qps(lambda q: tried.append(q) or _fake_run(False), SearchConfig(lower_qps=8, upper_qps=20,
                                                                                  max_runs=3))
    assert tried == [8, 4, 2] and none.best_qps is None and "no VALID rate" in none.ended


def test_settings_start_from_loadgens_mlperf_conf_then_short_then_the_case():
    pytest.importorskip("mlperf_loadgen")
    from dlrmbench.loadgen.settings import RunSettings, test_settings

    server = test_settings(RunSettings("server", LoadgenConfig(model="dlrm-v2"), 1_000_000))
    # mlcommons/inference loadgen/mlperf.conf: dlrm-v2.Server.target_latency = 60 (ms), p99, 600 s, fixed seeds
    assert server.server_target_latency_ns == 60_000_000
    assert server.server_target_latency_percentile == pytest.approx(0.99)
    assert server.min_duration_ms == 600_000
    assert (server.qsl_rng_seed, server.sample_index_rng_seed, server.schedule_rng_seed) == (
        2085463073848966840, 2747215439041700203, 16159082839903944936)
    assert server.performance_sample_count_override == 204_800  # dlrm-v2.*.performance_sample_count_override
    short = test_settings(RunSettings("server", LoadgenConfig(target_qps=50, target_latency_ms=15,
                                                              min_query_count=77), 1000, short=True))
    assert short.min_duration_ms == 1000 and short.min_query_count == 77  # the case's field beats --short
    assert short.server_target_qps == 50 and short.server_target_latency_ns == 15_000_000
    assert short.performance_sample_count_override == 1000  # capped at the library's samples


SUMMARY_LINE = re.compile(r"^(?P<key>[^:]+?)\s*:\s*(?P<value>.*)$")


def _summary_lines(path: Path) -> dict[str, str]:
    """An independent reading of a summary: the first value of every ``key : value`` line."""
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        m = SUMMARY_LINE.match(line.strip())
        if m:
            out.setdefault(m["key"], m["value"].strip())
    return out


@pytest.fixture(scope="module")
def real_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Short real LoadGen runs (Server, SingleStream, Offline accuracy) of a trivial 1 ms model."""
    pytest.importorskip("mlperf_loadgen")
    from dlrmbench.loadgen.run import run_test
    from dlrmbench.loadgen.settings import RunSettings

    root = tmp_path_factory.mktemp("loadgen-runs")
    library, _ = _library()

    def model(inputs: tuple[np.ndarray, ...]) -> np.ndarray:
        time.sleep(0.001)
        return inputs[0][:, 0]

    runs = {}
    for name, scenario, config in (("server", "server", LoadgenConfig(target_qps=300, target_latency_ms=200)),
                                   ("single", "single_stream", LoadgenConfig(target_latency_ms=0.5)),
                                   ("accuracy", "offline", LoadgenConfig(mode="accuracy"))):
        runs[name] = run_test(library, model, RunSettings(scenario, config, library.total_samples, short=True),
                              root / name, max_batch_size=16, max_wait_ms=1, workers=1)
    runs["library"] = library
    return runs


def test_summary_numbers_are_the_files(real_runs):
    server = real_runs["server"]
    text = _summary_lines(server.folder / "mlperf_log_summary.txt")
    assert server.summary.valid == (text["Result is"] == "VALID")
    assert server.summary.scenario == text["Scenario"] == "Server"
    assert server.summary.samples_per_s == float(text["Completed samples per second"])
    assert server.summary.scheduled_samples_per_s == float(text["Scheduled samples per second"])
    assert server.summary.latency_ms["p99"] == int(text["99.00 percentile latency (ns)"]) / 1e6
    assert server.summary.latency_ms["p99.9"] == int(text["99.90 percentile latency (ns)"]) / 1e6
    for key, value in text.items():  # every condition LoadGen answered NO is a reason
        if key.endswith("satisfied") and value == "NO":
            assert key.replace(" satisfied", " not met") in server.summary.unmet
    single = real_runs["single"]
    text = _summary_lines(single.folder / "mlperf_log_summary.txt")
    assert single.summary.scenario_latency_ms == int(text["90.0th percentile latency (ns)"]) / 1e6
    percentiles = [single.summary.latency_ms[q] for q in ("p50", "p90", "p95", "p97", "p99", "p99.9")]
    assert percentiles == sorted(percentiles) and percentiles[0] >= 1.0  # the model sleeps 1 ms


def test_parse_summary_reads_an_invalid_result_and_its_reasons():
    from dlrmbench.loadgen.logs import parse_summary

    text = ("Scenario : Offline\nMode     : PerformanceOnly\nSamples per second: 11419.6\nResult is : INVALID\n"
            "  Min duration satisfied : NO\n  Min queries satisfied : Yes\n  Early stopping satisfied: Yes\n"
            "Recommendations:\n * Increase expected QPS so the loadgen pre-generates a larger (coalesced) query.\n")
    summary = parse_summary(text)
    assert summary.valid is False and summary.samples_per_s == 11419.6
    assert summary.verdict == "INVALID (Min duration not met)"
    assert summary.recommendations == ["Increase expected QPS so the loadgen pre-generates a larger (coalesced) "
                                       "query."]


def test_accuracy_log_is_read_as_the_reference_reads_it(real_runs, tmp_path):
    from sklearn.metrics import roc_auc_score

    from dlrmbench.loadgen.accuracy import auc, read_outputs

    run, library = real_runs["accuracy"], real_runs["library"]
    records = json.loads((run.folder / "mlperf_log_accuracy.json").read_text())
    assert {r["qsl_idx"] for r in records} == set(range(library.total_samples))  # every sample once at least
    outputs, labels, owners = read_outputs(run.folder / "mlperf_log_accuracy.json")
    first = int(owners[0])
    a, b = library.rows_of(first)
    np.testing.assert_array_equal(labels[owners == first], library.labels[a:b])
    assert auc(outputs, labels) == pytest.approx(roc_auc_score(labels, outputs), abs=1e-12)
    # duplicates are dropped by qsl_idx (first kept), as tools/accuracy-dlrm.py does
    twice = records + [{**records[0], "seq_id": 10**6, "data": "0000803f0000803f"}]
    path = tmp_path / "dup.json"
    path.write_text(json.dumps(twice))
    again, _, _ = read_outputs(path)
    np.testing.assert_array_equal(again, outputs)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(UserError, match="not a LoadGen accuracy log"):
        read_outputs(bad)


def test_missing_loadgen_names_the_serve_extra(monkeypatch):
    import builtins
    import importlib.util

    from dlrmbench.config.schema import ServeConfig
    from dlrmbench.export.requirements import missing_modules_reason
    from dlrmbench.loadgen import library

    real_import, real_find = builtins.__import__, importlib.util.find_spec

    def no_loadgen(name, *args, **kwargs):
        if name == "mlperf_loadgen":
            raise ImportError("No module named 'mlperf_loadgen'", name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_loadgen)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlperf_loadgen"
                        else real_find(name, *a))
    with pytest.raises(UserError, match=re.escape("pip install 'dlrmbench[serve]'")):
        library.loadgen()
    assert "pip install 'dlrmbench[serve]'" in library.missing_reason()
    reason = missing_modules_reason(ServeConfig(target="pytorch", scenario="offline"))
    assert reason == "serve target pytorch: mlperf_loadgen is not installed (pip install 'dlrmbench[serve]')"
