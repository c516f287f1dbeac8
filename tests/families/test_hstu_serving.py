"""HSTU served through the family's ``serving``: ``dlrmbench export --check`` writes the jagged-input retrieval graph,
``dlrmbench run --short`` serves it under the real LoadGen (the result carries the summary's numbers) and to
closed-loop clients, and accuracy mode's HR@K / NDCG@K / MRR equal a computation read independently from LoadGen's
accuracy log."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import numpy as np
import pytest

from dlrmbench.results.schema import CaseResult
from tests.conftest import run_cli
from tests.loadgen.summary_file import summary_fields

pytest.importorskip("mlperf_loadgen")

MODEL = """{family: hstu, num_items: 200, item_embedding_dim: 16, num_blocks: 1, num_heads: 2, dqk: 8, dv: 8,
            max_sequence_length: 16, input_dropout: 0, linear_dropout: 0}"""
DATA = """{name: hstu_synthetic, options: {num_users: 96, num_items: 200, num_clusters: 10, min_length: 4,
                                              max_length: 24}}"""
SUITE = f"""name: hstu-serve
defaults: {{device: cpu, batch_size: 16, test_batch_size: 16, timeout_s: 600}}
cases:
  - name: offline
    mode: serve
    model: {MODEL}
    dataset: {DATA}
    serve: {{target: pytorch, scenario: offline, samples: 96, batcher: {{max_batch_size: 32}}}}
  - name: accuracy
    mode: serve
    model: {MODEL}
    dataset: {DATA}
    serve: {{target: torchscript, scenario: offline, samples: 96, batcher: {{max_batch_size: 32}},
            loadgen: {{mode: accuracy}}}}
  - name: closed-loop
    mode: serve
    model: {MODEL}
    dataset: {DATA}
    serve: {{target: torchscript, batch_sizes: [1, 8], concurrency: [1], duration_s: 0.3, warmup: 1}}
"""
K = 200  # the served top K: min(largest metric K, num_items)


@pytest.fixture(scope="module")
def served_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, CaseResult]]:
    root = tmp_path_factory.mktemp("hstu-serve")
    (root / "suite.yaml").write_text(SUITE)
    done = run_cli("run", str(root / "suite.yaml"), "--short", "-o", str(root / "results"), "--quiet")
    assert done.returncode == 0, done.stdout + done.stderr
    (run_dir,) = [p.parent for p in (root / "results").rglob("run.json")]
    results = {r.case: r for r in (CaseResult.model_validate_json(p.read_text())
                                   for p in (run_dir / "cases").glob("*.json"))}
    return run_dir, results



def test_offline_result_equals_loadgens_summary(served_run) -> None:
    run_dir, results = served_run
    offline = results["offline"]
    assert offline.status == "ok", offline.error
    assert "family hstu" in offline.environment["serving_target"]
    (record,) = offline.inference
    text = summary_fields(run_dir / record["folder"] / "mlperf_log_summary.txt")
    assert text["Scenario"] == "Offline"
    assert offline.value("loadgen_throughput") == float(text["Samples per second"])
    assert offline.value("loadgen_valid") == (1.0 if text["Result is"] == "VALID" else 0.0)
    assert offline.value("loadgen_latency_p99") == int(text["99.00 percentile latency (ns)"]) / 1e6
    assert record["mean_batch_samples"] <= 32  # the batcher packed the jagged samples up to max_batch_size


def test_closed_loop_clients_serve_requests_of_users_from_the_data(served_run) -> None:
    _, results = served_run
    closed = results["closed-loop"]
    assert closed.status == "ok", closed.error
    cells = {r["batch_size"]: r for r in closed.inference}
    assert set(cells) == {1, 8} and all(r["requests"] > 0 for r in cells.values())
    for batch, r in cells.items():  # samples/s = requests x users per request / the measured window
        assert r["throughput_samples_per_s"] == pytest.approx(r["requests"] * batch / r["seconds"], rel=1e-9)
    assert closed.environment["serving_export"]["check"]["torchscript"]["passed"] is True


def _read_log(path: Path) -> dict[int, tuple[list[int], int]]:
    """qsl index -> (the K served item ids, the held-out item), decoded here with struct (int64 little-endian)."""
    out: dict[int, tuple[list[int], int]] = {}
    for record in json.loads(path.read_text()):
        values = struct.unpack(f"<{K + 1}q", bytes.fromhex(record["data"]))
        out.setdefault(record["qsl_idx"], (list(values[:K]), values[K]))
    return out


def test_accuracy_metrics_equal_an_independent_reading_of_the_accuracy_log(served_run) -> None:
    run_dir, results = served_run
    acc = results["accuracy"]
    assert acc.status == "ok", acc.error
    (record,) = acc.inference
    log = _read_log(run_dir / record["folder"] / "mlperf_log_accuracy.json")
    assert len(log) == 96  # every sample once
    hr = {10: 0.0, 50: 0.0}
    ndcg10 = mrr = 0.0
    for items, label in log.values():
        assert len(set(i for i in items if i)) == len([i for i in items if i])  # a ranked list: no repeats
        rank = items.index(label) + 1 if label in items else K + 1
        for k in hr:
            hr[k] += rank <= k
        ndcg10 += 1 / math.log2(rank + 1) if rank <= 10 else 0.0
        mrr += 1 / rank
    n = len(log)
    assert acc.value("serving_hr_at_10") == pytest.approx(hr[10] / n, abs=1e-12)
    assert acc.value("serving_hr_at_50") == pytest.approx(hr[50] / n, abs=1e-12)
    assert acc.value("serving_ndcg_at_10") == pytest.approx(ndcg10 / n, abs=1e-12)
    assert acc.value("serving_mrr") == pytest.approx(mrr / n, abs=1e-12)
    # the fp32 eager reference on the same samples, and the gates recorded from it
    ref = acc.value("serving_hr_at_10_reference")
    assert acc.value("serving_hr_at_10_meets_99") == float(acc.value("serving_hr_at_10") >= 0.99 * ref)
    assert acc.value("serving_hr_at_10_meets_99.9") == float(acc.value("serving_hr_at_10") >= 0.999 * ref)
    (row,) = acc.evaluations
    assert row["samples"] == 96 and row["outputs_equal_share"] == 1.0  # TorchScript gave the eager top K
    assert acc.environment["serving_export"]["check"]["torchscript"]["passed"] is True
    from dlrmbench.results.compare import headline_metric

    assert headline_metric(acc) == ("serving_hr_at_10", None, None)  # compare judges it by the gated metric


def test_export_writes_the_jagged_retrieval_graph_checked_against_eager(tmp_path: Path) -> None:
    (tmp_path / "suite.yaml").write_text(SUITE)
    out = tmp_path / "exported"
    done = run_cli("export", "-o", str(out), "--suite", str(tmp_path / "suite.yaml"), "--case", "offline",
                   "--format", "torchscript", "--check")
    assert done.returncode == 0, done.stdout + done.stderr
    manifest = json.loads((out / "export.json").read_text())
    assert manifest["inputs"] == ["ids", "timestamps", "offsets", "query_timestamps"]
    assert manifest["outputs"] == ["items", "scores"]
    check = manifest["check"]["torchscript"]
    assert check["passed"] and check["max_abs_diff"] <= check["tolerance"] == 1e-5
    assert check["batch_sizes"] == [1, 7, 64]
    assert sorted(p.name for p in out.iterdir()) == ["export.json", "torchscript"]
    # serve-bench reads the core's layout: a family's export is refused by name
    from dlrmbench.errors import UserError
    from dlrmbench.export.exporter import read_manifest

    with pytest.raises(UserError, match="a family's export .*mode: serve"):
        read_manifest(out)


def test_the_jagged_library_packs_issued_samples_as_values_and_offsets() -> None:
    from dlrmbench.loadgen.qsl import JaggedLibrary

    ids = np.array([1, 2, 3, 4, 5, 6], dtype=np.int64)  # histories: [1, 2] [3] [4, 5, 6]
    library = JaggedLibrary({"offsets": (np.array([0, 2, 3, 6]), {"ids": ids, "ts": ids * 10})},
                            {"q": np.array([7, 8, 9])}, np.array([[11], [12], [13]]), ("ids", "ts", "offsets", "q"))
    prepared = library.prepare([2, 0])
    got_ids, got_ts, offsets, q = prepared.inputs
    assert got_ids.tolist() == [4, 5, 6, 1, 2] and got_ts.tolist() == [40, 50, 60, 10, 20]
    assert offsets.tolist() == [0, 3, 5] and q.tolist() == [9, 7]
    assert prepared.labels.tolist() == [[13], [11]] and prepared.offsets.tolist() == [0, 1, 2]
    # a ranking request: its candidates are the data rows (one label and one output each)
    ranking = JaggedLibrary({"offsets": (np.array([0, 2, 3, 6]), {"ids": ids}),
                             "candidate_offsets": (np.array([0, 1, 3, 4]), {"candidates": np.array([9, 8, 7, 6])})},
                            {}, np.array([1.0, 0.0, 1.0, 0.0]), ("ids", "offsets", "candidates", "candidate_offsets"),
                            rows="candidate_offsets")
    packed = ranking.prepare([1, 2])
    assert [a.tolist() for a in packed.inputs] == [[3, 4, 5, 6], [0, 1, 4], [8, 7, 6], [0, 2, 3]]
    assert packed.offsets.tolist() == [0, 2, 3] and packed.labels.tolist() == [0.0, 1.0, 0.0]
    with pytest.raises(ValueError, match="order"):
        JaggedLibrary({"offsets": (np.array([0, 6]), {"ids": ids})}, {}, np.zeros((1, 1)), ("ids",))


def test_responses_keep_dtype_and_width_and_dlrm_pairs_are_unchanged() -> None:
    from dlrmbench.loadgen.accuracy import Layout
    from dlrmbench.loadgen.sut import response_rows

    scores, labels = np.array([0.25, 0.75], np.float32), np.array([1.0, 0.0], np.float32)
    assert response_rows(scores, labels).tobytes() == np.stack([scores, labels], 1).tobytes()  # the reference's
    items, targets = np.array([[3, 1], [2, 5]], np.int64), np.array([[1], [9]], np.int64)
    rows = response_rows(items, targets)
    layout = Layout.of(items, targets)
    assert layout == Layout("int64", 2, "int64", 1) and rows.shape == (2, layout.row_bytes)
    assert struct.unpack("<3q", rows[1].tobytes()) == (2, 5, 9)


def test_gates_respect_a_metric_where_lower_is_better() -> None:
    from dlrmbench.loadgen.accuracy import gates

    assert gates(0.80, 0.81) == {"99%": False, "99.9%": False}
    assert gates(0.805, 0.81)["99%"] is True
    # NE: the served value may be at most reference / fraction
    assert gates(0.70, 0.695, higher_is_better=False) == {"99%": True, "99.9%": False}
    assert gates(0.72, 0.695, higher_is_better=False)["99%"] is False


def test_a_family_without_serving_whose_model_is_not_the_core_layout_is_refused_by_name() -> None:
    from types import SimpleNamespace

    from dlrmbench.errors import UserError
    from dlrmbench.export.family_export import served_model

    class NoServing:  # a family object without serving(model, dataset)
        pass

    work = SimpleNamespace(family=NoServing(), model=SimpleNamespace(embeddings=None),
                           case=SimpleNamespace(name="rank", model=SimpleNamespace(family="other")))
    with pytest.raises(UserError, match=r"case rank: family other: .*NoServing.* no bottom_mlp, interaction, "
                                        r"top_mlp, out"):
        served_model(work)
    work.model = SimpleNamespace(**{part: None for part in ("embeddings", "bottom_mlp", "interaction", "top_mlp",
                                                            "out")})
    assert served_model(work) is None  # the core's own layout serves it
