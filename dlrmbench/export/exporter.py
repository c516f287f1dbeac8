"""``dlrmbench export``: served parts -> model files + Triton repository + ``export.json``, atomically.

Everything is written into a hidden staging folder beside the output and renamed into place only
when it is complete (and, with ``check``, matches the eager model): an error leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator, Literal

import torch

from dlrmbench.errors import UserError
from dlrmbench.export.serving_model import CATEGORICAL, EMBEDDED, LOGIT, NUMERICAL, ServingParts
from dlrmbench.export.triton_repo import (
    MODEL_FILES, PLATFORMS, TRITON_TYPES, Batching, ModelConfig, Tensor, model_names, served_names,
)

MANIFEST = "export.json"
#: How the ``categorical`` input is laid out (recorded in ``export.json``; README: Serving).
CATEGORICAL_LAYOUT = ("(batch, sum(hotness)) int64: per sample, feature 0's hotness[0] ids, then feature 1's "
                      "hotness[1] ids, ...; one-hot: (batch, num_features)")
MANIFEST_FORMAT = "dlrmbench-export-1"
#: A family's own served model (dlrmbench.export.family_export): its manifest format and format folders.
FAMILY_MANIFEST_FORMAT = "dlrmbench-family-export-1"
FAMILY_FILES = ("onnx", "torchscript")
REPOSITORY = "triton"
Format = Literal["onnx", "torchscript"]
#: Default table size above which the tables are served as their own model (2 GiB: an ONNX
#: protobuf's limit, and more than a dense graph should carry onto a GPU beside its MLPs).
SPLIT_ABOVE_BYTES = 2 << 30


class ExportMismatch(Exception):
    """An exported model computes something else than the eager model (``--check`` failed)."""


@dataclass
class ExportSettings:
    """What to write and how Triton should batch it."""

    output: Path
    formats: tuple[str, ...] = ("onnx", "torchscript")
    split: Literal["auto", "always", "never"] = "auto"
    split_above_bytes: int = SPLIT_ABOVE_BYTES
    model_name: str = "dlrm"
    batching: Batching = field(default_factory=Batching)
    check: bool = False
    force: bool = False
    precision: Literal["fp32", "bf16", "int8"] = "fp32"
    table_bits: Literal[8, 4] = 8


def check_output(output: Path, force: bool) -> None:
    """Refuse, before anything is built, an output that exists (without ``force``) or cannot be written."""
    if output.exists() and not force:
        raise UserError(f"export output {output} already exists; choose a new folder or pass --force to replace it")
    if output.exists() and not output.is_dir():
        raise UserError(f"export output {output} is a file, not a folder; choose a folder path")
    if output.is_dir() and not _is_export(output):
        raise UserError(f"export output {output} exists and is not a dlrmbench export (no {MANIFEST}, or other files "
                        "beside it); --force replaces only an earlier export or an empty folder: choose a new folder")
    parent = output.resolve().parent
    if not parent.is_dir():
        raise UserError(f"export output {output}: its parent folder {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"export output {output}: cannot write in {parent} (permission denied); choose another folder")


def _is_export(folder: Path) -> bool:
    """True for an empty folder, or one holding only what :func:`export` writes, with its manifest."""
    try:
        entries = {p.name for p in folder.iterdir()}
        if not entries:
            return True
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    if isinstance(manifest, dict) and manifest.get("format") == FAMILY_MANIFEST_FORMAT:  # a family's export
        return entries <= {MANIFEST, *FAMILY_FILES}
    return entries <= {MANIFEST, REPOSITORY} and isinstance(manifest, dict) and manifest.get("format") == MANIFEST_FORMAT


def decide_split(parts: ServingParts, settings: ExportSettings) -> tuple[bool, str]:
    """Whether the tables get their own model, and why (recorded in the manifest)."""
    size = served_bytes(parts, settings)
    if settings.split == "always":
        return True, "--split always"
    if settings.split == "never":
        return False, "--split never"
    if size > settings.split_above_bytes:
        return True, f"tables hold {size:,} bytes, above --split-above {settings.split_above_bytes:,}"
    return False, f"tables hold {size:,} bytes, within --split-above {settings.split_above_bytes:,}"


def served_bytes(parts: ServingParts, settings: ExportSettings) -> int:
    """Bytes of the tables as exported in the settings' precision."""
    from dlrmbench.export.serving_precision import served_table_bytes

    return served_table_bytes(sum(parts.table_sizes), parts.dim, settings.precision, settings.table_bits)


def precision_record(parts: ServingParts, settings: ExportSettings) -> dict[str, Any]:
    """What the manifest says about the exported precision (``check`` and the serving targets read it)."""
    how = {"fp32": "float32 as trained",
           "bf16": "weights and activations in bfloat16; float32 inputs and logits",
           "int8": (f"MLPs dynamically quantised (int8 weights per tensor, uint8 activations per batch); tables "
                    f"row-wise quantised to {settings.table_bits} bits with a float scale and bias per row")}
    return {"name": settings.precision, "table_bits": settings.table_bits if settings.precision == "int8" else None,
            "method": how[settings.precision], "served_table_bytes": served_bytes(parts, settings)}


def _examples(parts: ServingParts, batch: int = 4) -> dict[str, torch.Tensor]:
    """Example inputs for tracing: the check's own random inputs (ids within each table, per hotness column)."""
    from dlrmbench.export.check import random_inputs

    info = {"num_numerical": parts.num_numerical, "table_sizes": parts.table_sizes, "hotness": parts.hotness}
    numerical_np, categorical_np = random_inputs(info, batch, seed=0)
    numerical, categorical = torch.from_numpy(numerical_np), torch.from_numpy(categorical_np)
    embedded = parts.sparse(categorical)
    return {NUMERICAL: numerical, CATEGORICAL: categorical, EMBEDDED: embedded}


def _tensor_specs(parts: ServingParts) -> dict[str, Tensor]:
    return {
        NUMERICAL: Tensor(NUMERICAL, TRITON_TYPES["float32"], (parts.num_numerical,)),
        CATEGORICAL: Tensor(CATEGORICAL, TRITON_TYPES["int64"], (parts.num_ids,)),
        EMBEDDED: Tensor(EMBEDDED, TRITON_TYPES["float32"], (parts.num_features, parts.dim)),
        LOGIT: Tensor(LOGIT, TRITON_TYPES["float32"], (1,)),
    }


#: The served graphs: part -> (input names, output names).
GRAPHS = {
    "model": ([NUMERICAL, CATEGORICAL], [LOGIT]),
    "sparse": ([CATEGORICAL], [EMBEDDED]),
    "dense": ([NUMERICAL, EMBEDDED], [LOGIT]),
}


def _write_format(parts: ServingParts, fmt: str, split: bool, settings: ExportSettings,
                  stage: Path) -> dict[str, Any]:
    """Write one format's model file(s) and config(s) under ``stage/triton``; return its manifest entry."""
    from dlrmbench.export.formats import quantize_onnx, write_onnx, write_torchscript
    from dlrmbench.export.serving_precision import export_modules

    names = model_names(settings.model_name, fmt)
    specs, examples = _tensor_specs(parts), _examples(parts)
    modules = export_modules(parts.sparse, parts.dense, settings.precision, settings.table_bits, fmt)
    kind = settings.batching.instance_kind
    entry: dict[str, Any] = {"model": names["model"], "parts": {}, "tensors": {}}
    for part in (["sparse", "dense"] if split else ["model"]):
        inputs, outputs = GRAPHS[part]
        folder = stage / REPOSITORY / names[part]
        (folder / "1").mkdir(parents=True)
        target = folder / "1" / MODEL_FILES[fmt]
        module = modules[part]
        example = tuple(examples[n] for n in inputs)
        if fmt == "onnx":
            write_onnx(module, example, inputs, outputs, target)
            if settings.precision == "int8" and part != "sparse":
                quantize_onnx(target)  # the MLPs' MatMuls to int8 (the tables are already row-wise int8)
        else:
            write_torchscript(module, example, target)
        in_names, out_names = served_names(fmt, inputs), served_names(fmt, outputs)
        config = ModelConfig(
            name=names[part], platform=PLATFORMS[fmt],
            inputs=[Tensor(n, specs[g].dtype, specs[g].dims) for n, g in zip(in_names, inputs)],
            outputs=[Tensor(n, specs[g].dtype, specs[g].dims) for n, g in zip(out_names, outputs)],
            batching=settings.batching, instance_kind="KIND_CPU" if part == "sparse" else kind,
        )
        (folder / "config.pbtxt").write_text(config.render())
        entry["parts"][part] = {"file": target.relative_to(stage).as_posix(), "inputs": in_names, "outputs": out_names,
                                "side_files": sorted(p.name for p in target.parent.iterdir() if p != target)}
    if split:
        s_in, s_out = entry["parts"]["sparse"]["inputs"], entry["parts"]["sparse"]["outputs"]
        d_in, d_out = entry["parts"]["dense"]["inputs"], entry["parts"]["dense"]["outputs"]
        ensemble = ModelConfig(
            name=names["model"], platform="ensemble",
            inputs=[specs[NUMERICAL], specs[CATEGORICAL]], outputs=[specs[LOGIT]], batching=settings.batching,
            steps=[(names["sparse"], {s_in[0]: CATEGORICAL}, {s_out[0]: EMBEDDED}),
                   (names["dense"], {d_in[0]: NUMERICAL, d_in[1]: EMBEDDED}, {d_out[0]: LOGIT})],
        )
        folder = stage / REPOSITORY / names["model"]
        (folder / "1").mkdir(parents=True)  # Triton wants a version folder, empty for an ensemble
        (folder / "config.pbtxt").write_text(ensemble.render())
    whole = entry["parts"].get("model")
    entry["served"] = ({"inputs": [NUMERICAL, CATEGORICAL], "outputs": [LOGIT]} if whole is None
                       else {"inputs": whole["inputs"], "outputs": whole["outputs"]})
    return entry


def export(model: torch.nn.Module, source: dict[str, Any], settings: ExportSettings) -> dict[str, Any]:
    """Export ``model`` (a trained DLRM) as ``settings`` says; return the manifest written.

    Raises :class:`UserError` for a bad output, :class:`ExportMismatch` when ``check`` finds a
    difference; in both cases nothing is left under ``settings.output``.
    """
    from dlrmbench.export.serving_model import serving_parts

    check_output(settings.output, settings.force)
    parts = serving_parts(model, source.get("interaction"), source.get("hotness"))
    split, reason = decide_split(parts, settings)
    output = settings.output
    with staged_export(output) as stage:
        models = {fmt: _write_format(parts, fmt, split, settings, stage) for fmt in settings.formats}
        manifest: dict[str, Any] = {
            "format": MANIFEST_FORMAT,
            "source": source,
            "model": {"num_numerical": parts.num_numerical, "num_features": parts.num_features,
                      "embedding_dim": parts.dim, "table_sizes": parts.table_sizes,
                      "hotness": parts.hotness, "categorical_columns": parts.num_ids,
                      "categorical_layout": CATEGORICAL_LAYOUT,
                      "hash_indices": parts.sparse.hash_indices, "table_bytes": parts.table_bytes},
            "precision": precision_record(parts, settings),
            "split": split, "split_reason": reason, "repository": REPOSITORY,
            "batching": asdict(settings.batching), "models": models, "check": None,
        }
        if settings.check:
            from dlrmbench.export.check import check_export

            manifest["check"] = check_export(model, stage, manifest)
        publish_export(stage, output, manifest)
    return manifest


@contextmanager
def staged_export(output: Path) -> Iterator[Path]:
    """A fresh staging folder beside ``output`` (same file system, so publishing is a rename), removed when the
    block raises: a failed write or check leaves nothing, and ``output`` keeps what it had."""
    stage = Path(tempfile.mkdtemp(prefix=f".{output.name}.export-", dir=output.resolve().parent))
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


def publish_export(stage: Path, output: Path, manifest: dict[str, Any]) -> None:
    """Refuse a staged export whose check failed (naming each format's difference), else write its manifest
    and move it to ``output``. Every exporter ends here, so a failed check never reaches ``output``."""
    report = manifest.get("check") or {}
    failed = [mismatch(fmt, r) for fmt, r in report.items() if r["passed"] is False]
    if failed:
        raise ExportMismatch("the exported model differs from the eager model: largest |difference| "
                             + "; ".join(failed))
    (stage / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    _publish(stage, output)


def mismatch(fmt: str, result: dict[str, Any]) -> str:
    """One failed format of the check, as the error names it."""
    if result["max_abs_diff"] > result["tolerance"]:
        return f"{fmt}: {result['max_abs_diff']:.3g} (tolerance {result['tolerance']:g})"
    same = result["same_precision"]
    return (f"{fmt}: {same['max_abs_diff']:.3g} against eager PyTorch in the same precision (tolerance "
            f"{same['tolerance']:g})")


def _publish(stage: Path, output: Path) -> None:
    """Rename the complete staging folder to ``output`` (replacing an old export only now)."""
    os.chmod(stage, 0o755)
    if output.exists():
        old = output.with_name(f".{output.name}.old-{os.getpid()}")
        os.replace(output, old)
        os.replace(stage, output)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(stage, output)


def read_manifest(path: Path) -> dict[str, Any]:
    """Load an export folder's ``export.json`` (or the file itself), with a clear error if it is not one."""
    file = path / MANIFEST if path.is_dir() else path
    if not file.is_file():
        raise UserError(f"{path}: no {MANIFEST} here; give a folder written by `dlrmbench export`")
    try:
        manifest = json.loads(file.read_text(encoding="utf-8", errors="replace"))
    except json.JSONDecodeError as exc:
        raise UserError(f"{file}: not valid JSON ({exc.msg} at line {exc.lineno}); re-run dlrmbench export") from None
    if isinstance(manifest, dict) and manifest.get("format") == FAMILY_MANIFEST_FORMAT:
        raise UserError(f"{file}: a family's export (inputs {', '.join(map(str, manifest.get('inputs') or []))}); "
                        "serve-bench and Triton read the numerical, categorical layout: measure it with a mode: serve "
                        "case of its suite")
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise UserError(f"{file}: not a dlrmbench export manifest (expected format {MANIFEST_FORMAT})")
    problem = _manifest_problem(manifest, file.parent)
    if problem:
        raise UserError(f"{file}: {problem}; re-run dlrmbench export")
    return manifest


def _manifest_problem(manifest: dict[str, Any], root: Path) -> str | None:
    """What is wrong with a manifest read from disk (edited or damaged), or None."""
    model, models = manifest.get("model"), manifest.get("models")
    if not isinstance(model, dict) or not isinstance(models, dict) or not models:
        return "'model' or 'models' is missing"
    sizes = model.get("table_sizes")
    if not (isinstance(sizes, list) and sizes and all(isinstance(s, int) and 0 < s < 1 << 40 for s in sizes)):
        return "model.table_sizes must be a list of positive whole numbers"
    if not (isinstance(model.get("num_numerical"), int) and 0 < model["num_numerical"] < 1 << 16):
        return "model.num_numerical must be a positive whole number"
    hotness = model.get("hotness")
    if hotness is not None and not (isinstance(hotness, list) and len(hotness) == len(sizes)
                                    and all(isinstance(h, int) and 0 < h < 1 << 16 for h in hotness)):
        return "model.hotness must be a positive whole number per table"
    precision = manifest.get("precision", {"name": "fp32", "table_bits": None})  # exports before precisions: fp32
    if not (isinstance(precision, dict) and precision.get("name") in ("fp32", "bf16", "int8")
            and precision.get("table_bits") in ((8, 4) if precision.get("name") == "int8" else (None,))):
        return "precision must name fp32, bf16 or int8 (int8 with table_bits 8 or 4)"
    base = root.resolve()
    for fmt, entry in models.items():
        parts = entry.get("parts") if isinstance(entry, dict) else None
        if fmt not in ("onnx", "torchscript") or not isinstance(parts, dict) or not parts:
            return f"models.{fmt} is not an onnx or torchscript entry with parts"
        for part, info in parts.items():
            file = info.get("file") if isinstance(info, dict) else None
            if not isinstance(file, str) or base not in (base / file).resolve().parents:
                return f"models.{fmt}.parts.{part}.file must be a path inside the export folder"
    return None
