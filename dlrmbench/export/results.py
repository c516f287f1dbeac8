"""Serving-benchmark results as a normal result set: ``<output>/serving/<run-id>/run.json`` and
``cases/serve-<target>.json`` (mode ``serve``), so ``compare`` and ``report`` read them like any run.

Metrics per cell: ``serving_throughput_bs{b}_c{c}`` (samples/s) and ``serving_latency_p{q}_bs{b}_c{c}``
(ms); ``inference_throughput`` with ``batch_size`` b (key ``inference_throughput@b``) is the one-client
(concurrency 1) throughput, the figure
comparable with an ``inference`` case's end-to-end throughput. The full table is in ``inference``.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any

from dlrmbench.export.serve_bench import PERCENTILES, Cell

SUITE = "serving"


def _metrics(cells: list[Cell]) -> dict[str, Any]:
    from dlrmbench.results.metrics import make, metric_key
    from dlrmbench.results.schema import metric

    out = {}
    for cell in cells:
        key = f"bs{cell.batch_size}_c{cell.concurrency}"
        out[f"serving_throughput_{key}"] = metric(cell.samples_per_s, "samples/s", True,
                                                  f"{cell.concurrency} closed-loop clients, batch {cell.batch_size}")
        for q in PERCENTILES:
            out[f"serving_latency_p{q}_{key}"] = metric(cell.percentile_ms(q), "ms", False, "request latency")
        if cell.concurrency == 1:
            out[metric_key("inference_throughput", cell.batch_size)] = make(
                "inference_throughput", cell.samples_per_s, cell.batch_size,
                "one client, end to end through the serving runtime")
    return out


def write_serving_result(output: Path, export_dir: Path, manifest: dict[str, Any], target: str,
                         description: str, settings: dict[str, Any], cells: list[Cell],
                         started_at: str) -> Path:
    """Write the run manifest and the one case file; return the run folder."""
    from dlrmbench import __version__
    from dlrmbench.host import current_host
    from dlrmbench.results.schema import CaseEntry, CaseResult, RunManifest
    from dlrmbench.results.store import atomic_write_json, new_run_id, run_directory, utc_now
    from dlrmbench.telemetry.environment import fingerprint

    manifest_file = export_dir / "export.json"
    environment = fingerprint(current_host(), _runtime_versions())
    run_id = new_run_id()
    run_dir = run_directory(output, SUITE, run_id)
    case = f"serve-{target}"
    config = {"mode": "serve", "target": target, "target_description": description, **settings,
              "export": {"path": str(export_dir), "source": manifest.get("source"), "model": manifest.get("model"),
                         "split": manifest.get("split")}}
    result = CaseResult(suite=SUITE, run_id=run_id, case=case, status="ok", config=config,
                        metrics=_metrics(cells), inference=[c.record() for c in cells],
                        environment=environment, started_at=started_at, finished_at=utc_now())
    run = RunManifest(suite=SUITE, suite_file=str(manifest_file),
                      suite_sha256=hashlib.sha256(manifest_file.read_bytes()).hexdigest(),
                      run_id=run_id, dlrmbench_version=__version__, command=list(sys.argv),
                      started_at=started_at, finished_at=utc_now(), status="complete", environment=environment,
                      cases=[CaseEntry(case=case, repeat=0, status="ok", file=f"cases/{case}.json")],
                      reference={"source": "dlrmbench serve-bench", "description": description})
    atomic_write_json(run_dir / "cases" / f"{case}.json", result)
    atomic_write_json(run_dir / "run.json", run)
    return run_dir


def _runtime_versions() -> dict[str, Any]:
    from importlib import metadata

    out: dict[str, Any] = {}
    for name in ("onnx", "onnxruntime", "tritonclient"):
        try:
            out[f"{name}_version"] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[f"{name}_version"] = None
    return out
