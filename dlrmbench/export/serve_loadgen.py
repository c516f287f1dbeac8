"""DLRM served under LoadGen: the one place that knows the DLRM specifics of the LoadGen path.

It gives the generic pieces (:mod:`dlrmbench.loadgen`) a sample library and a model callable:

- **library**: the first rows of the case's test split (numerical features, ids in the served
  ``(B, sum(hotness))`` layout, labels), grouped into samples of ``serve.rows_per_sample`` rows, or of
  100-700 rows drawn from the DLRMv2 reference's quantiles (``aggregation: dlrmv2``);
- **model**: the target's ``predict(numerical, categorical) -> logits``, then a sigmoid (the reference
  returns probabilities): pytorch and pytorch_compiled (``torch.compile``) run the served modules in the serving
  precision; torchscript and onnxruntime run the export (checked against the eager model first); triton
  a model on a running server.

Then one LoadGen test, or (server with ``search``) a search over target QPS; in accuracy mode the AUC over
LoadGen's accuracy log is set against the fp32 eager model's on the same rows. A family with its own served model
(``serving(model, dataset)``) gives the library, the targets' module and the accuracy metric instead
(:mod:`dlrmbench.export.family_serving`).
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from dlrmbench.config.schema import PYTORCH_TARGETS
from dlrmbench.errors import UserError
from dlrmbench.loadgen.qsl import DLRMV2_QUANTILES, RowLibrary, fixed_offsets
from dlrmbench.workload.build import Workload
from dlrmbench.workload.reporter import Reporter

Predict = Callable[[np.ndarray, np.ndarray], np.ndarray]
READ_BATCH = 2048


def served_ids(categorical: Any) -> torch.Tensor:
    """A batch's ids in the served ``(B, sum(hotness))`` layout (one-hot ``(B, F)`` is already it)."""
    if isinstance(categorical, torch.Tensor):
        return categorical
    if categorical.hotness is None:
        raise UserError("serving takes fixed hotness (ids per sample per feature); this dataset is jagged")
    batch, parts, start = categorical.batch_size, [], 0
    for h in categorical.hotness:
        parts.append(categorical.values[start:start + batch * h].reshape(batch, h))
        start += batch * h
    return torch.cat(parts, dim=1)


def sample_bounds(case: Any) -> np.ndarray:
    """Sample boundaries over the rows the library needs (``serve.samples`` samples)."""
    serve = case.serve
    if serve.aggregation == "dlrmv2":
        rng = np.random.default_rng(case.seed)
        sizes = np.asarray(DLRMV2_QUANTILES)[rng.integers(len(DLRMV2_QUANTILES), size=serve.samples)]
        return np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    return fixed_offsets(serve.samples * serve.rows_per_sample, serve.rows_per_sample)


def read_rows(work: Workload, rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first ``rows`` rows of the test split: numerical, served ids, labels."""
    case = work.case
    numerical, ids, labels, have = [], [], [], 0
    try:
        for batch in work.dataset.batches("test", min(READ_BATCH, rows), torch.device("cpu")):
            numerical.append(batch.numerical.float().numpy())
            ids.append(served_ids(batch.categorical).numpy().astype(np.int64))
            labels.append(batch.label.float().numpy())
            have += batch.size
            if have >= rows:
                break
    except ValueError as exc:
        raise UserError(f"case {case.name}: the test split cannot give {rows} rows ({exc})") from None
    if have < rows:
        raise UserError(f"case {case.name}: LoadGen's sample library needs {rows:,} test rows (serve.samples x rows "
                        f"per sample) but the test split has {have:,}; lower serve.samples or use more test data")
    return (np.concatenate(numerical)[:rows], np.concatenate(ids)[:rows], np.concatenate(labels)[:rows])


def build_library(work: Workload) -> RowLibrary:
    bounds = sample_bounds(work.case)
    numerical, ids, labels = read_rows(work, int(bounds[-1]))
    return RowLibrary((numerical, ids), labels, bounds)


def _sigmoid(logits: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-logits.astype(np.float64)))).astype(np.float32).reshape(-1)


def torch_predict(module: torch.nn.Module, device: torch.device) -> Predict:
    """``module`` on ``device``: inputs copied there, outputs back (the copy is part of serving)."""
    def predict(numerical: np.ndarray, categorical: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            out = module(torch.from_numpy(numerical).to(device), torch.from_numpy(categorical).to(device))
            return out.float().cpu().numpy()
    return predict


def served_module(work: Workload) -> Any:
    """The served fp32 modules (sparse lookup + dense tower) of the case's model."""
    from dlrmbench.export.serving_model import serving_parts
    case = work.case
    assert work.resolved is not None
    parts = serving_parts(work.model.cpu(), case.model.interaction.name, work.resolved.hotness)
    return parts.whole()


def build_target(work: Workload, scratch: Path) -> tuple[Predict, dict[str, Any]]:
    """The case's serving target as ``predict`` and the facts a result records about it."""
    serve = work.case.serve
    assert serve is not None
    if serve.target in PYTORCH_TARGETS:
        from dlrmbench.export.serving_precision import in_precision

        module = in_precision(served_module(work), serve.precision, serve.table_bits).to(work.device)
        if serve.target == PYTORCH_TARGETS[1]:
            module = torch.compile(module, dynamic=True)
        where = "CPU" if work.device.type == "cpu" else str(work.device)
        return torch_predict(module, work.device), {"serving_target": f"{serve.target} PyTorch ({where}), {serve.precision}"
                                       + (f", {serve.table_bits}-bit tables" if serve.precision == "int8" else ""),
                                       "quantized_engine": torch.backends.quantized.engine}
    from dlrmbench.config.schema import TARGET_FORMATS
    from dlrmbench.export.serve_bench import LocalTarget, TritonTarget
    from dlrmbench.export.serve_mode import DEFAULT_TRITON_MODEL, export_case_model

    if serve.target == "triton":
        name = serve.model or DEFAULT_TRITON_MODEL
        remote = TritonTarget(serve.url, serve.protocol, name)
        local = threading.local()

        def predict(numerical: np.ndarray, categorical: np.ndarray) -> np.ndarray:
            if not hasattr(local, "client"):
                local.client = remote.client()
            return local.client(numerical, categorical)

        return predict, {"serving_target": remote.description}
    manifest = export_case_model(work.resolved, work.model, scratch / "export")
    target = LocalTarget(scratch / "export", manifest, TARGET_FORMATS[serve.target], serve.threads)
    return target.client(), {"serving_target": target.description,
                             "serving_export": {"split": manifest["split"], "precision": manifest["precision"],
                                                "check": manifest["check"]}}


def model_call(predict: Predict) -> Callable[[Any], np.ndarray]:
    """The generic SUT's model: a batch's ``(numerical, ids)`` -> one probability per row."""
    def call(inputs: Any) -> np.ndarray:
        numerical, ids = inputs
        return _sigmoid(np.asarray(predict(np.ascontiguousarray(numerical), np.ascontiguousarray(ids))))
    return call


def reference_outputs(work: Workload, library: RowLibrary) -> np.ndarray:
    """The fp32 eager training model's probabilities for every row of the library (the accuracy reference)."""
    from dlrmbench.export.serving_model import eager_logits
    assert work.resolved is not None
    numerical, ids = library.columns
    hotness = work.resolved.hotness
    out = []
    for start in range(0, numerical.shape[0], READ_BATCH):
        logits = eager_logits(work.model.float().cpu(), torch.from_numpy(numerical[start:start + READ_BATCH]),
                              torch.from_numpy(ids[start:start + READ_BATCH]), hotness)
        out.append(_sigmoid(logits.numpy()))
    return np.concatenate(out)


def run_loadgen(work: Workload, reporter: Reporter, folder: Path, relative_to_run: bool = False
                ) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    """Serve ``work`` under LoadGen; LoadGen's files go under ``folder`` (``<run dir>/artifacts/<case>/loadgen``
    when ``relative_to_run``: the records then name their folders relative to the run directory). Returns one
    record per LoadGen run, the facts for the result's environment, and what the metrics are built from."""
    from dlrmbench.loadgen.calibrate import calibrate
    from dlrmbench.loadgen.library import loadgen
    from dlrmbench.loadgen.run import run_test
    from dlrmbench.loadgen.settings import RunSettings

    loadgen()  # the serve extra, or a UserError naming it
    case = work.case
    serve = case.serve
    assert serve is not None and serve.scenario is not None
    from dlrmbench.export.family_export import served_model

    served = served_model(work)  # the family's own served model, or None: the core's layout
    if served is not None:
        from dlrmbench.export.family_serving import check_sample_fields

        check_sample_fields(case)
        library = served.library(serve.samples, case.seed)
    else:
        library = build_library(work)
    scratch = Path(tempfile.mkdtemp(prefix="dlrmbench-loadgen-"))
    try:
        if served is not None:
            from dlrmbench.export.family_serving import family_target, first_output

            predict, facts = family_target(work, served, scratch)
            call = first_output(predict)
        else:
            predict, facts = build_target(work, scratch)
            call = model_call(predict)
        from dlrmbench.loadgen.accuracy import Layout

        warm = library.prepare([0])
        layout = Layout.of(np.asarray(call(warm.inputs)), np.asarray(warm.labels))  # compiled targets compile here
        unset = {"offline": serve.loadgen.target_qps, "single_stream": serve.loadgen.target_latency_ms,
                 "multi_stream": serve.loadgen.target_latency_ms}
        calibrated = None  # a probe sizes the run where the case does not (accuracy runs send every sample once)
        if serve.loadgen.mode == "performance" and serve.scenario in unset and unset[serve.scenario] is None:
            calibrated = calibrate(library, call, serve.scenario, serve.batcher.max_batch_size,
                                   serve.loadgen.samples_per_query or 8)

        def run_at(qps: float | None, name: str) -> Any:
            settings = RunSettings(serve.scenario, serve.loadgen, library.total_samples, serve.short, qps, calibrated)
            return run_test(library, call, settings, folder / name, serve.batcher.max_batch_size,
                            serve.batcher.max_wait_ms, serve.batcher.workers)

        outcome: dict[str, Any] = {"scenario": serve.scenario, "mode": serve.loadgen.mode, "calibration": calibrated}
        if serve.search is not None:
            from dlrmbench.loadgen.search import search_qps

            bounds = search_bounds(serve.search, calibrate(library, call, "offline", serve.batcher.max_batch_size, 8))
            outcome["search_bounds"] = [bounds.lower_qps, bounds.upper_qps]

            reporter.emit("start", mode="serve", total_steps=serve.search.max_runs)
            count = [0]

            def progress(qps: float, run: Any) -> None:
                count[0] += 1
                reporter.emit("progress", step=count[0], target_qps=qps, valid=run.summary.valid,
                              **_rate(run, serve.batcher.max_batch_size))

            found = search_qps(lambda q: run_at(q, f"search-{count[0] + 1:02d}-{q:g}qps"), bounds, progress)
            runs = [run for _, run in found.runs]
            outcome.update(best_qps=found.best_qps, search_ended=found.ended)
        else:
            reporter.emit("start", mode="serve", total_steps=1)
            runs = [run_at(None, serve.scenario)]
            reporter.emit("progress", step=1, valid=runs[0].summary.valid,
                          **_rate(runs[0], serve.batcher.max_batch_size))
        if serve.loadgen.mode == "accuracy" and served is not None:
            from dlrmbench.export.family_serving import accuracy_check as family_accuracy

            outcome["accuracy"] = family_accuracy(work, served, library, runs[-1].folder, layout)
        elif serve.loadgen.mode == "accuracy":
            outcome["accuracy"] = accuracy_check(work, library, runs[-1].folder)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    base = folder.parent.parent.parent if relative_to_run else None  # <run dir>/artifacts/<case>/loadgen
    records = [{**run.record(), "folder": str(run.folder.relative_to(base) if base else run.folder)} for run in runs]
    for record, run in zip(records, runs):
        record["files"] = ", ".join(sorted(p.name for p in run.folder.iterdir()))
    facts.update(loadgen_version=_loadgen_version(runs[-1].folder))
    for record in records:
        record.update({f"calibrated_{k}": v for k, v in (outcome.get("calibration") or {}).items()})
    return records, facts, outcome


def search_bounds(search: Any, probe: dict[str, float]) -> Any:
    """The search's bounds, capped by what the model can do at all: no Server rate above the probe's (optimistic)
    Offline samples/s can be VALID, and a rate far above it makes LoadGen wait minutes for the backlog. The
    upper bound becomes at most 1.5x the probe's rate, the lower at most half of it."""
    rate = probe.get("probe_samples_per_s")
    if not rate:
        return search
    upper = min(search.upper_qps, 1.5 * rate)
    lower = min(search.lower_qps, 0.5 * rate)
    if upper <= lower:
        upper = 2 * lower
    return search.model_copy(update={"lower_qps": round(lower, 3), "upper_qps": round(upper, 3)})


def _rate(run: Any, batch: int) -> dict[str, Any]:
    """The progress event's rate fields (none for the latency scenarios)."""
    rate = run.summary.samples_per_s
    return {} if rate is None else {"throughput": rate, "batch_size": batch}


def _loadgen_version(folder: Path) -> str | None:
    from dlrmbench.loadgen.logs import read_detail

    return read_detail(folder).get("loadgen_version")


def accuracy_check(work: Workload, library: RowLibrary, folder: Path) -> dict[str, Any]:
    """AUC over LoadGen's accuracy log against the fp32 eager model's on the same rows; the 99% / 99.9% gates."""
    from dlrmbench.loadgen.accuracy import ACCURACY, auc, gates, read_outputs

    outputs, labels, owners = read_outputs(folder / ACCURACY)
    reference_all = reference_outputs(work, library)
    rows = np.concatenate([np.arange(*library.rows_of(int(i))) for i in dict.fromkeys(owners.tolist())])
    reference = reference_all[rows]
    if not np.array_equal(labels, library.labels[rows]):
        raise RuntimeError("the accuracy log's labels are not the library's: responses were mixed up")
    from dlrmbench.export.serving_precision import PROBABILITY_TOLERANCE

    served, ref = auc(outputs, labels), auc(reference, labels)
    diff = float(np.max(np.abs(outputs.astype(np.float64) - reference)))
    serve = work.case.serve
    tolerance = PROBABILITY_TOLERANCE[serve.precision] if serve is not None else None
    return {"auc": served, "reference_auc": ref, "auc_ratio": served / ref if ref == ref and ref else None,
            "rows": int(rows.shape[0]), "samples": int(len(set(owners.tolist()))), "max_abs_diff": diff,
            "tolerance": tolerance, "within_tolerance": None if tolerance is None else diff <= tolerance,
            "meets": gates(served, ref)}


def accuracy_evaluation(accuracy: dict[str, Any]) -> dict[str, Any]:
    """The accuracy check as a result's evaluation row (flat: numbers and booleans)."""
    if "family" in accuracy:  # a family's own metrics (dlrmbench.export.family_serving)
        from dlrmbench.export.family_serving import accuracy_evaluation as family_row

        return family_row(accuracy)
    meets = accuracy["meets"]
    return {"step": 0, "auc": accuracy["auc"], "reference_auc": accuracy["reference_auc"],
            "auc_ratio": accuracy["auc_ratio"], "rows": accuracy["rows"], "samples": accuracy["samples"],
            "max_abs_diff": accuracy["max_abs_diff"], "tolerance": accuracy["tolerance"],
            "within_tolerance": accuracy["within_tolerance"], "meets_99": meets["99%"], "meets_99.9": meets["99.9%"]}
