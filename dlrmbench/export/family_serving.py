"""A family's :class:`~dlrmbench.plugin_api.ServedModel` served in ``mode: serve``: under LoadGen or to closed-loop
clients. The family gives the module, its requests, its sample library and its accuracy metric; this module gives
the mechanism, the same for every family:

- **targets**: ``pytorch`` (the served module, eager), ``pytorch_compiled`` (``torch.compile``), ``torchscript`` and
  ``onnxruntime`` (the export, checked against the training model first unless ``serve.check: false``); fp32 only
  (the serving precisions quantise the core's layout); ``triton`` serves the core's layout only;
- **LoadGen**: the family's library (a sample = one request) and the target's first output as each data row's
  response (:func:`dlrmbench.loadgen.sut.response_rows` keeps its dtype);
- **accuracy**: the family's metrics over LoadGen's accuracy log (:func:`dlrmbench.loadgen.accuracy.read_responses`)
  against the same metrics of the training model's own outputs for the same samples, with the 99% / 99.9% gates
  on ``accuracy_metric`` (direction from the family's declaration).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from dlrmbench.config.schema import PYTORCH_TARGETS, TARGET_FORMATS
from dlrmbench.errors import UserError

Predict = Callable[..., tuple[np.ndarray, ...]]


def family_target(work: Any, served: Any, scratch: Path) -> tuple[Predict, dict[str, Any]]:
    """The case's serving target over the family's served model, and the facts the result records."""
    serve = work.case.serve
    family = work.case.model.family
    if serve.precision != "fp32":
        raise UserError(f"case {work.case.name}: serve.precision {serve.precision} quantises the numerical, "
                        f"categorical layout; family {family} serves its own model in fp32: set precision: fp32")
    if serve.target == "triton":
        raise UserError(f"case {work.case.name}: target triton serves the numerical, categorical layout; family "
                        f"{family} serves its own model: use pytorch, pytorch_compiled, torchscript or onnxruntime")
    from dlrmbench.export.family_export import FamilyPredictor, export_served, module_predict

    if serve.target in PYTORCH_TARGETS:
        module = served.module()
        if serve.target == PYTORCH_TARGETS[1]:
            module = torch.compile(module, dynamic=True)
        return module_predict(module), {"serving_target": f"{serve.target} PyTorch (CPU), fp32, family {family}"}
    fmt = TARGET_FORMATS[serve.target]
    source = {"case": work.case.name, "seed": work.case.seed, "family": family}
    root = scratch / "export"
    if serve.export_to is not None:  # kept: the case's folder, replaced (as the core layout's export_to)
        from dlrmbench.config.paths import case_path

        root = case_path(serve.export_to, work.case)
    manifest = export_served(served, source, root, (fmt,), serve.check, force=serve.export_to is not None)
    predictor = FamilyPredictor(root / manifest["models"][fmt]["file"], fmt, served.input_names, serve.threads)
    runtime = "onnxruntime (CPU)" if fmt == "onnx" else "TorchScript (CPU)"
    return predictor.predict, {"serving_target": f"{runtime}, family {family}, intra-op threads "
                                                 f"{serve.threads or 'default'}",
                               "serving_export": {"split": False, "check": manifest["check"],
                                                  "kept_at": str(root) if serve.export_to is not None else None}}


def first_output(predict: Predict) -> Callable[[Any], np.ndarray]:
    """The SUT's model: a prepared batch's inputs -> the first output, one row per data row."""
    def call(inputs: Any) -> np.ndarray:
        return np.asarray(predict(*inputs)[0])
    return call


def check_sample_fields(case: Any) -> None:
    """A family's sample is one request: the core layout's row aggregation does not apply."""
    serve = case.serve
    if serve.aggregation != "fixed" or serve.rows_per_sample != 1:
        raise UserError(f"case {case.name}: serve.aggregation and serve.rows_per_sample group the numerical, "
                        f"categorical layout's rows; family {case.model.family} serves one request per sample: drop them")


def accuracy_check(work: Any, served: Any, library: Any, folder: Path, layout: Any) -> dict[str, Any]:
    """The family's metrics over LoadGen's accuracy log, and over the training model's outputs for the same
    samples (fp32 eager); the gates on ``served.accuracy_metric``."""
    from dlrmbench.loadgen.accuracy import ACCURACY, gates, read_responses

    outputs, labels, owners = read_responses(folder / ACCURACY, layout)
    samples = list(dict.fromkeys(owners.tolist()))
    reference_rows, library_labels = [], []
    for start in range(0, len(samples), 256):  # each sample prepared once: its labels and the eager reference
        chunk = library.prepare(samples[start:start + 256])
        library_labels.append(np.asarray(chunk.labels).reshape(-1))
        reference_rows.append(np.asarray(served.reference(chunk.inputs)[0]))
    if not np.array_equal(labels.reshape(labels.shape[0], -1),
                          np.concatenate(library_labels).reshape(labels.shape[0], -1).astype(labels.dtype)):
        raise RuntimeError("the accuracy log's labels are not the library's: responses were mixed up")
    reference = np.concatenate(reference_rows)
    reference = reference.reshape(reference.shape[0], -1)  # rows x width, as the log's outputs
    same = reference.shape == outputs.shape
    served_metrics = served.accuracy(outputs, labels)
    reference_metrics = served.accuracy(reference, labels)
    name = served.accuracy_metric
    declared = {m.name: m for m in work.resolved.metrics}
    higher = declared[name].higher_is_better is not False if name in declared else True
    value, ref = served_metrics[name], reference_metrics[name]
    ratio = (value / ref if higher else ref / value) if value and ref else None
    return {"family": work.case.model.family, "metric": name, "higher_is_better": higher,
            "declared": {n: (d.unit, d.higher_is_better) for n, d in declared.items()},
            "metrics": served_metrics, "reference_metrics": reference_metrics, "ratio": ratio,
            "samples": len(samples), "rows": int(outputs.shape[0]),
            "outputs_equal_share": float(np.mean(np.all(outputs == reference, axis=1))) if same else None,
            "meets": gates(value, ref, higher)}


def accuracy_evaluation(accuracy: dict[str, Any]) -> dict[str, Any]:
    """A family's accuracy check as a result's evaluation row (flat)."""
    row: dict[str, Any] = {"step": 0, **accuracy["metrics"],
                           **{f"{k}_reference": v for k, v in accuracy["reference_metrics"].items()},
                           "ratio": accuracy["ratio"], "samples": accuracy["samples"], "rows": accuracy["rows"],
                           "outputs_equal_share": accuracy["outputs_equal_share"],
                           "meets_99": accuracy["meets"]["99%"], "meets_99.9": accuracy["meets"]["99.9%"]}
    return row


class SharedTarget:
    """A served model in this process as serve_bench's ``Target``: every client calls the one ``predict`` (ONNX
    Runtime and TorchScript release the GIL)."""

    def __init__(self, description: str, predict: Predict) -> None:
        self.description, self.predict = description, predict

    def client(self) -> Predict:
        return self.predict


#: Distinct requests each closed-loop client cycles through per batch size.
CLOSED_LOOP_REQUESTS = 4


def serve_family_closed_loop(work: Any, served: Any, settings: Any, reporter: Any
                             ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """``mode: serve`` without a scenario: the family's export (onnxruntime or torchscript, checked first) measured
    by the closed-loop clients of :func:`dlrmbench.export.serve_bench.run_serving` on requests from its data."""
    import shutil
    import tempfile

    from dlrmbench.export.serve_bench import run_serving

    scratch = Path(tempfile.mkdtemp(prefix="dlrmbench-serve-"))
    try:
        predict, facts = family_target(work, served, scratch)

        def requests(batch: int, seed: int) -> list[tuple[np.ndarray, ...]]:
            return [served.example(batch, seed + i) for i in range(CLOSED_LOOP_REQUESTS)]

        done = [0]

        def progress(cell: Any) -> None:
            done[0] += 1
            reporter.emit("progress", step=done[0], batch_size=cell.batch_size, concurrency=cell.concurrency,
                          throughput=cell.samples_per_s)

        cells = run_serving(SharedTarget(facts["serving_target"], predict), {}, settings, progress, requests)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    from dlrmbench.export.serving_results import runtime_versions

    facts.update(runtime_versions())
    facts.setdefault("serving_export", None)
    return [cell.record() for cell in cells], facts
