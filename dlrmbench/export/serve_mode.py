"""The serving benchmark as a case (``mode: serve``): export the case's model, then serve it.

The case's model (seeded, or ``checkpoint.load``) is exported as ``dlrmbench export`` does (ONNX or
TorchScript, one graph or split at the size limit, ``--check`` against the eager model unless
``serve.check: false``), and measured by the same closed-loop clients as ``dlrmbench serve-bench``
(:func:`dlrmbench.export.serve_bench.run_serving`): every batch size x concurrency cell is one record.
The ``triton`` target measures a model already loaded on a running server instead; ``serve.export_to``
keeps the export (a Triton model repository under ``triton/``) for such a server.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from dlrmbench.config.schema import TARGET_FORMATS, Case
from dlrmbench.workload.build import Workload
from dlrmbench.workload.reporter import Reporter

#: The Triton model a ``triton`` target measures when ``serve.model`` is not given (the export's ONNX model).
DEFAULT_TRITON_MODEL = "dlrm"


def _export_folder(case: Case) -> tuple[Path, Path | None]:
    """Where the export goes (``serve.export_to``, else a temporary folder) and the folder to remove after."""
    assert case.serve is not None
    if case.serve.export_to is not None:
        from dlrmbench.config.paths import case_path

        return case_path(case.serve.export_to, case), None
    scratch = Path(tempfile.mkdtemp(prefix="dlrmbench-serve-"))
    return scratch / "export", scratch


def export_case_model(resolved: Any, model: Any, output: Path) -> dict[str, Any]:
    """Export ``model`` to ``output`` as the case's serving config says; return the export's manifest."""
    from dlrmbench.export.exporter import ExportSettings, export

    case = resolved.case
    serve = case.serve
    assert serve is not None
    formats = ("onnx", "torchscript") if serve.target == "triton" else (TARGET_FORMATS[serve.target],)
    source = {"case": case.name, "seed": case.seed, "backend": case.backend.name, "embedding": case.embedding.name,
              "interaction": case.model.interaction.name,
              "checkpoint": case.checkpoint.load if case.checkpoint is not None else None,
              "hotness": resolved.hotness}
    settings = ExportSettings(output=output, formats=formats, split=serve.split, check=serve.check,
                              force=serve.export_to is not None, precision=serve.precision,
                              table_bits=serve.table_bits)
    return export(model.eval(), source, settings)


def run_serve(work: Workload, reporter: Reporter) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Export and serve ``work.model``; one record per batch size x concurrency cell, and the export's facts
    (format, split, check) for the result."""
    from dlrmbench.export.requirements import require_modules
    from dlrmbench.export.serve_bench import LocalTarget, ServeSettings, TritonTarget, run_serving

    case = work.case
    serve = case.serve
    assert serve is not None
    require_modules(serve)
    settings = ServeSettings(batch_sizes=tuple(serve.batch_sizes), concurrency=tuple(serve.concurrency),
                             duration_s=serve.duration_s, warmup=serve.warmup, seed=case.seed)
    cells_total = len(settings.batch_sizes) * len(settings.concurrency)
    reporter.emit("start", mode="serve", total_steps=cells_total, batch_sizes=list(settings.batch_sizes))
    from dlrmbench.export.family_export import served_model

    served = served_model(work)
    if served is not None:  # the family's own served model
        from dlrmbench.export.family_serving import serve_family_closed_loop

        return serve_family_closed_loop(work, served, settings, reporter)
    scratch = None
    try:
        if serve.target == "triton" and serve.export_to is None and not serve.check:
            manifest = None
            model_info = serving_model_info(work)
        else:
            root, scratch = _export_folder(case)
            manifest = export_case_model(work.resolved, work.model, root)
            model_info = manifest["model"]
        if serve.target == "triton":
            name = serve.model or (manifest["models"]["onnx"]["model"] if manifest else DEFAULT_TRITON_MODEL)
            target: Any = TritonTarget(serve.url, serve.protocol, name)
        else:
            assert manifest is not None
            target = LocalTarget(root, manifest, TARGET_FORMATS[serve.target], serve.threads)
        done = [0]

        def progress(cell: Any) -> None:
            done[0] += 1
            reporter.emit("progress", step=done[0], batch_size=cell.batch_size, concurrency=cell.concurrency,
                          throughput=cell.samples_per_s)

        cells = run_serving(target, model_info, settings, progress)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    from dlrmbench.export.serving_results import runtime_versions

    facts = {"serving_target": target.description, **runtime_versions(),
             "serving_export": None if manifest is None else {
                 "split": manifest["split"], "split_reason": manifest["split_reason"], "check": manifest["check"],
                 "kept_at": str(root) if serve.export_to is not None else None}}
    return [cell.record() for cell in cells], facts


def serving_model_info(work: Workload) -> dict[str, Any]:
    """The input facts the clients need (what an export's manifest records), from the built workload."""
    case = work.case
    return {"num_numerical": case.model.num_numerical, "num_features": len(work.table_sizes),
            "table_sizes": list(work.table_sizes), "hash_indices": case.model.hash_indices,
            "hotness": work.resolved.hotness}
