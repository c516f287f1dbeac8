"""``--check``: the exported files, run as a server runs them, against the eager training model.

ONNX graphs run in ONNX Runtime on the CPU, TorchScript files through ``torch.jit.load``; a split
export runs its sparse then its dense part, as Triton's ensemble does. The reference is the
training model's own ``forward`` (not the served modules), so the adapter is checked too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from dlrmbench.export.serving_model import CATEGORICAL, EMBEDDED, LOGIT, NUMERICAL, eager_logits

#: fp32: |exported - eager| <= TOLERANCE x max(1, max |eager|)
TOLERANCE = 1e-5
#: Every precision: |exported - eager fp32| <= TOLERANCES[key] x max(1, max |eager|) on the logits, key as
#: :func:`tolerance_key`. The bf16 and int8 rows come from ``bench/export_tolerances.py``
#: (bench/results/export-tolerances-cpu.txt): the largest such error over both formats, 3 seeds x 3 model shapes,
#: untrained and trained, on the check's own inputs, times 3, rounded up to one significant figure (largest seen:
#: bf16 0.0112, int8-8bit 0.0859, int8-4bit 0.0994; trained models' errors are 3-5x the untrained ones').
#: docs/guides/serving.md, "Precisions".
TOLERANCES = {"fp32": TOLERANCE, "bf16": 4e-2, "int8-8bit": 3e-1, "int8-4bit": 3e-1}
CHECK_BATCH_SIZES = (1, 7, 256)


def random_inputs(model_info: dict[str, Any], batch: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Numerical features ~ N(0, 1) and ids uniform in each table (also beyond it when ids are hashed);
    ``categorical`` is ``(batch, sum(hotness))``: each feature's ``hotness[f]`` ids in turn."""
    rng = np.random.default_rng(seed)
    sizes = np.asarray(model_info["table_sizes"], dtype=np.int64)
    hotness = model_info.get("hotness") or [1] * len(sizes)
    sizes = np.repeat(sizes, np.asarray(hotness, dtype=np.int64))  # the table of every column
    high = sizes * 3 if model_info.get("hash_indices") else sizes
    categorical = (rng.random((batch, len(sizes))) * high).astype(np.int64)
    numerical = rng.standard_normal((batch, model_info["num_numerical"])).astype(np.float32)
    return numerical, categorical


class Predictor:
    """Runs one exported format from its files: ``predict(numerical, categorical) -> (B, 1)``."""

    def __init__(self, root: Path, entry: dict[str, Any], fmt: str, threads: int | None = None) -> None:
        self.fmt, self.parts = fmt, entry["parts"]
        self.runners = {part: self._load(root / info["file"], threads) for part, info in self.parts.items()}

    def _load(self, file: Path, threads: int | None) -> Any:
        if self.fmt == "onnx":
            import onnxruntime as ort

            options = ort.SessionOptions()
            if threads:
                options.intra_op_num_threads = threads
                options.inter_op_num_threads = 1
            return ort.InferenceSession(str(file), options, providers=["CPUExecutionProvider"])
        import warnings

        with warnings.catch_warnings():  # "torch.jit.load is deprecated": still what Triton's PyTorch backend runs
            warnings.simplefilter("ignore", DeprecationWarning)
            return torch.jit.load(str(file), map_location="cpu").eval()

    def _run(self, part: str, *arrays: np.ndarray) -> np.ndarray:
        runner = self.runners[part]
        if self.fmt == "onnx":
            names = self.parts[part]["inputs"]
            return runner.run(None, dict(zip(names, arrays)))[0]
        with torch.no_grad():
            return runner(*(torch.from_numpy(a) for a in arrays)).numpy()

    def predict(self, numerical: np.ndarray, categorical: np.ndarray) -> np.ndarray:
        if "model" in self.runners:
            return self._run("model", numerical, categorical)
        embedded = self._run("sparse", categorical)
        return self._run("dense", numerical, embedded)


def tolerance_key(precision: dict[str, Any] | None) -> str:
    """The row of :data:`TOLERANCES` for a manifest's ``precision`` record (None: an fp32 export)."""
    if not precision or precision.get("name", "fp32") == "fp32":
        return "fp32"
    if precision["name"] == "int8":
        return f"int8-{precision.get('table_bits') or 8}bit"
    return str(precision["name"])


def compare(exported: np.ndarray, reference: np.ndarray, tolerance: float = TOLERANCE) -> dict[str, float]:
    """Largest absolute difference and the tolerance it is held to (``tolerance`` x max(1, max |reference|))."""
    if exported.shape != reference.shape:
        return {"max_abs_diff": float("inf"), "tolerance": tolerance}
    diff = float(np.max(np.abs(exported.astype(np.float64) - reference.astype(np.float64))))
    if not np.isfinite(diff):
        diff = float("inf")  # a NaN or inf output fails, whatever the tolerance
    scale = max(1.0, float(np.max(np.abs(reference))))
    return {"max_abs_diff": diff, "tolerance": tolerance * scale}


def check_export(model: torch.nn.Module, root: Path, manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """For each exported format: the largest difference to ``model`` (fp32, eager) over a few batch sizes, held to
    the tolerance of the export's precision. A TorchScript export in bf16 or int8 is also held to fp32's
    tolerance against the same precision in eager PyTorch (``same_precision``: the ops are the same, so any
    difference is a defect the looser row could hide). A format this machine's runtime cannot run in that
    precision is reported with ``passed: None`` and the runtime's reason (``skipped``)."""
    report: dict[str, dict[str, Any]] = {}
    device = next(model.parameters()).device
    key = tolerance_key(manifest.get("precision"))
    hotness = manifest["model"].get("hotness")
    served = _eager_in_precision(model, manifest) if key != "fp32" and "torchscript" in manifest["models"] else None
    for fmt, entry in manifest["models"].items():
        skipped = runtime_reason(fmt, key)
        if skipped:
            report[fmt] = {"max_abs_diff": None, "tolerance": TOLERANCES[key], "tolerance_key": key, "samples": 0,
                           "batch_sizes": [], "passed": None, "skipped": skipped}
            continue
        predictor = Predictor(root, entry, fmt)
        worst = {"max_abs_diff": 0.0, "tolerance": TOLERANCES[key]}
        same = {"max_abs_diff": 0.0, "tolerance": TOLERANCE} if fmt == "torchscript" and served is not None else None
        samples = 0
        for i, batch in enumerate(CHECK_BATCH_SIZES):
            numerical, categorical = random_inputs(manifest["model"], batch, seed=i)
            exported = predictor.predict(numerical, categorical)
            reference = eager_logits(model, torch.from_numpy(numerical).to(device),
                                     torch.from_numpy(categorical).to(device), hotness).cpu().numpy()
            worst = _worse(worst, compare(exported, reference, TOLERANCES[key]))
            if same is not None:
                with torch.no_grad():
                    eager = served(torch.from_numpy(numerical), torch.from_numpy(categorical)).float().numpy()
                same = _worse(same, compare(exported, eager, TOLERANCE))
            samples += batch
        passed = worst["max_abs_diff"] <= worst["tolerance"]
        report[fmt] = {**worst, "tolerance_key": key, "samples": samples, "batch_sizes": list(CHECK_BATCH_SIZES)}
        if same is not None:
            same["passed"] = bool(same["max_abs_diff"] <= same["tolerance"])
            report[fmt]["same_precision"] = same
            passed = passed and same["passed"]
        report[fmt]["passed"] = bool(passed)
    return report


def _worse(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    """The comparison nearer its tolerance (or beyond it)."""
    return b if b["max_abs_diff"] / b["tolerance"] >= a["max_abs_diff"] / a["tolerance"] else a


def _eager_in_precision(model: torch.nn.Module, manifest: dict[str, Any]) -> torch.nn.Module:
    """The export's precision in eager PyTorch (what the pytorch serving target runs) from ``model``'s weights."""
    from dlrmbench.export.serving_model import serving_parts
    from dlrmbench.export.serving_precision import in_precision

    precision = manifest["precision"]
    parts = serving_parts(model, manifest.get("source", {}).get("interaction"), manifest["model"].get("hotness"))
    return in_precision(parts.whole(), precision["name"], precision.get("table_bits") or 8)


def runtime_reason(fmt: str, key: str) -> str | None:
    """Why this machine's runtime for ``fmt`` cannot run an export of precision ``key``, or None."""
    if fmt == "onnx" and key == "bf16":
        from dlrmbench.export.requirements import onnxruntime_bf16_reason

        return onnxruntime_bf16_reason()
    return None
