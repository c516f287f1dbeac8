"""Export and check a family's :class:`~dlrmbench.plugin_api.ServedModel` (families whose object has ``serving``).

The served module is written as TorchScript (traced) and ONNX (dynamo exporter, the family's dynamic shapes) under
``<output>/<format>/``, with an ``export.json`` naming the inputs, outputs and the check. ``--check`` runs the
written files (ONNX Runtime, ``torch.jit.load``) on requests of :data:`CHECK_BATCH_SIZES` samples from the case's
data and compares each with the training model's own outputs (``ServedModel.reference``), at the tolerance the
family states in ``compare``. As :func:`dlrmbench.export.exporter.export`, everything is staged beside the output
and published only when complete. No Triton repository is written for a family's model (the Triton path serves the
``numerical, categorical`` layout).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from dlrmbench.errors import UserError
from dlrmbench.export.exporter import FAMILY_MANIFEST_FORMAT

FILES = {"onnx": "model.onnx", "torchscript": "model.pt"}
#: Requests the check runs: one sample (LoadGen's Server and SingleStream queries), an odd size, a batch.
CHECK_BATCH_SIZES = (1, 7, 64)
EXAMPLE_BATCH = 5


#: What the core's own serving layout reads from a model (dlrmbench.export.serving_model.serving_parts).
CORE_LAYOUT_PARTS = ("embeddings", "bottom_mlp", "interaction", "top_mlp", "out")


def core_layout_problem(family: Any, model: Any, case: Any) -> str | None:
    """Why the core's ``numerical, categorical -> logit`` layout cannot serve a model whose family object has no
    ``serving`` method, or None when it can."""
    missing = [part for part in CORE_LAYOUT_PARTS if not hasattr(model, part)]
    if not missing:
        return None
    return (f"family {case.model.family}: its family object ({type(family).__name__}) gives no serving(model, "
            f"dataset) and its model is not the numerical, categorical layout the core serves (it has no "
            f"{', '.join(missing)}); this model cannot be served yet")


def served_model(work: Any) -> Any:
    """The family's served model of ``work`` (its ``serving(model, dataset)``), or None when the family has none
    and the core's own layout serves the model (a UserError when that layout does not fit it either)."""
    serving = getattr(work.family, "serving", None)
    if serving is None:
        problem = core_layout_problem(work.family, work.model, work.case)
        if problem:
            raise UserError(f"case {work.case.name}: {problem}")
        return None
    model = work.model.float().cpu().eval()
    return serving(model, work.dataset)


def _as_tuple(out: Any) -> tuple[Any, ...]:
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def write_format(served: Any, fmt: str, path: Path) -> None:
    """Write ``served.module()`` as ``fmt`` (torchscript or onnx) to ``path``."""
    module = served.module()
    example = tuple(torch.from_numpy(np.asarray(a)) for a in served.example(EXAMPLE_BATCH, seed=0))
    if fmt == "torchscript":
        from dlrmbench.export.formats import write_torchscript

        write_torchscript(module, example, path)
        return
    from dlrmbench.export.formats import write_onnx

    write_onnx(module, example, list(served.input_names), list(served.output_names), path,
               dynamic_shapes=served.onnx_dynamic_shapes())


class FamilyPredictor:
    """One exported format of a served model, run from its file: ``predict(*inputs) -> outputs`` (numpy)."""

    def __init__(self, file: Path, fmt: str, input_names: tuple[str, ...], threads: int | None = None) -> None:
        self.fmt, self.input_names = fmt, tuple(input_names)
        if fmt == "onnx":
            import onnxruntime as ort

            options = ort.SessionOptions()
            if threads:
                options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
            self.session = ort.InferenceSession(str(file), options, providers=["CPUExecutionProvider"])
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                self.module = torch.jit.load(str(file), map_location="cpu").eval()

    def predict(self, *inputs: np.ndarray) -> tuple[np.ndarray, ...]:
        if self.fmt == "onnx":
            return tuple(self.session.run(None, dict(zip(self.input_names, inputs))))
        with torch.no_grad():
            out = self.module(*(torch.from_numpy(np.ascontiguousarray(a)) for a in inputs))
        return tuple(t.numpy() for t in _as_tuple(out))


def module_predict(module: torch.nn.Module) -> Callable[..., tuple[np.ndarray, ...]]:
    """A served module in PyTorch (eager or compiled) as ``predict(*inputs) -> outputs`` (numpy)."""
    def predict(*inputs: np.ndarray) -> tuple[np.ndarray, ...]:
        with torch.inference_mode():
            out = module(*(torch.from_numpy(np.ascontiguousarray(a)) for a in inputs))
        return tuple(t.float().numpy() if t.is_floating_point() else t.numpy() for t in _as_tuple(out))
    return predict


def check_files(served: Any, stage: Path, formats: dict[str, str]) -> dict[str, dict[str, Any]]:
    """For each written format: the worst comparison with the training model over the check's requests."""
    report: dict[str, dict[str, Any]] = {}
    requests = [served.example(b, seed=100 + i) for i, b in enumerate(CHECK_BATCH_SIZES)]
    references = [served.reference(r) for r in requests]
    for fmt, file in formats.items():
        predictor = FamilyPredictor(stage / file, fmt, served.input_names)
        results = [served.compare(predictor.predict(*request), reference)
                   for request, reference in zip(requests, references)]
        # a failed request first, then the largest difference relative to its tolerance
        worst = max(results, key=lambda r: (not r["passed"], r["max_abs_diff"] / r["tolerance"]))
        report[fmt] = {**worst, "passed": bool(worst["passed"]), "samples": sum(CHECK_BATCH_SIZES),
                       "batch_sizes": list(CHECK_BATCH_SIZES)}
    return report


def export_served(served: Any, source: dict[str, Any], output: Path, formats: tuple[str, ...], check: bool,
                  force: bool) -> dict[str, Any]:
    """Write ``served`` to ``output`` in ``formats``; with ``check``, refuse (nothing written) on a difference."""
    from dlrmbench.export.exporter import check_output, publish_export, staged_export

    unsupported = [fmt for fmt in formats if fmt not in served.formats]
    if unsupported:
        raise UserError(f"family {source.get('family')}: its served model is written as "
                        f"{', '.join(served.formats) or 'no export format'}, not {', '.join(unsupported)}; serve it on "
                        "the pytorch or pytorch_compiled target" + (f", or export --format {served.formats[0]}"
                                                                    if served.formats else ""))
    check_output(output, force)
    with staged_export(output) as stage:
        files = {}
        for fmt in formats:
            (stage / fmt).mkdir()
            files[fmt] = f"{fmt}/{FILES[fmt]}"
            write_format(served, fmt, stage / files[fmt])
        manifest: dict[str, Any] = {
            "format": FAMILY_MANIFEST_FORMAT, "source": source,
            "inputs": list(served.input_names), "outputs": list(served.output_names),
            "models": {fmt: {"file": file} for fmt, file in files.items()}, "check": None,
        }
        if check:
            manifest["check"] = check_files(served, stage, files)
        publish_export(stage, output, manifest)
    return manifest


def export_case(case: Any, checkpoint: Path | None, output: Path, formats: tuple[str, ...], check: bool,
                force: bool) -> dict[str, Any] | None:
    """``dlrmbench export --suite --case`` for a family with its own serving: build the case's workload (its data
    and model, ``checkpoint`` or the case's ``checkpoint.load``) and export it; None when the family has none."""
    from dlrmbench.workload.build import build_workload, resolve

    resolved = resolve(case.model_copy(update={"device": "cpu"}))
    work = build_workload(resolved)
    if checkpoint is not None:
        from dlrmbench.workload.checkpoint import load_checkpoint

        load_checkpoint(work.model, checkpoint, work.case, work.table_sizes)
    served = served_model(work)
    if served is None:
        return None
    source = {"case": work.case.name, "seed": work.case.seed, "family": work.case.model.family,
              "checkpoint": str(checkpoint) if checkpoint is not None else (
                  work.case.checkpoint.load if work.case.checkpoint is not None else None)}
    return export_served(served, source, output, formats, check, force)


__all__ = ["FAMILY_MANIFEST_FORMAT", "FamilyPredictor", "check_files", "export_case", "export_served",
           "module_predict", "served_model", "write_format"]
