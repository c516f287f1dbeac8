"""Serving-benchmark results as a normal result set: ``<output>/serving/<run-id>/run.json`` and
``cases/serve-<target>.json`` (mode ``serve``), so ``compare`` and ``report`` read them like any run.

Metrics per cell, as a ``mode: serve`` case of ``dlrmbench run`` records them: ``serving_throughput``
(samples/s), ``serving_request_rate``, ``serving_requests`` and ``serving_latency_{mean,p50,p90,p95,p99}``
(ms), each with ``batch_size`` and ``concurrency`` fields (key ``serving_throughput@64:c4``). The full
table is in ``inference``.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any

from dlrmbench.export.serve_bench import Cell

SUITE = "serving"


def _metrics(cells: list[Cell]) -> dict[str, Any]:
    """The serving metrics of ``dlrmbench run``'s ``mode: serve`` (one function builds both)."""
    from dlrmbench.workload.result_metrics import serving_metrics

    return serving_metrics([cell.record() for cell in cells])


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
    environment = fingerprint(current_host(), runtime_versions())
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


def runtime_versions() -> dict[str, Any]:
    from importlib import metadata

    out: dict[str, Any] = {}
    for name in ("onnx", "onnxruntime", "tritonclient"):
        try:
            out[f"{name}_version"] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[f"{name}_version"] = None
    return out
