"""Bounds on what a checkpoint file claims, checked before torch reads it and before a model is built from it.

A torch checkpoint is a zip archive whose members torch writes uncompressed; a member stored compressed (a zip
bomb: kilobytes that inflate to gigabytes) or claiming more bytes than the file holds would make the loader
allocate what the header says. The recorded model shape (``shape.table_sizes``, ``shape.embedding_dim``, the
MLP widths), from which ``export`` builds a model, must describe no more parameters than the file's tensors
hold. Each refusal names the file and the field. Light: no torch import.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any, Iterable

from dlrmbench.errors import UserError

#: More members than any checkpoint of ours holds (one per tensor storage, plus a few records).
MAX_MEMBERS = 1_000_000


def check_archive(path: Path, what: str) -> None:
    """Refuse a checkpoint archive whose members are compressed or claim more than the file holds
    (``what`` says where the path came from, e.g. ``case x: checkpoint.load``)."""
    size = path.stat().st_size
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return  # not a zip archive: torch's own message (corrupt, truncated, legacy format) says so
    if len(members) > MAX_MEMBERS:
        raise UserError(f"{what} {path}: the archive lists {len(members):,} members (at most {MAX_MEMBERS:,}); "
                        "not a checkpoint written by dlrmbench: save it again with checkpoint.save")
    for member in members:
        field = None
        if member.compress_type != zipfile.ZIP_STORED:
            field = f"compression method {member.compress_type} (torch writes members uncompressed)"
        elif member.file_size != member.compress_size:
            field = f"size {member.file_size:,} bytes against {member.compress_size:,} stored"
        elif member.header_offset + member.compress_size > size:
            field = f"size {member.file_size:,} bytes at offset {member.header_offset:,}, past the file's end ({size:,})"
        if field is not None:
            raise UserError(f"{what} {path}: member {member.filename!r} claims {field}; refused before reading "
                            "(a corrupt or crafted file): save the checkpoint again with checkpoint.save")


def _layer_parameters(widths: Iterable[Any], first_input: int | None) -> int:
    """Weights and biases of an MLP of these output ``widths`` (the first layer's input when known)."""
    total, previous = 0, first_input
    for width in widths:
        width = int(width)
        total += (previous * width if previous is not None else 0) + width
        previous = width
    return total


def claimed_parameters(shape: dict[str, Any]) -> int:
    """A lower bound on the parameters of the model ``shape`` describes: its tables and MLPs."""
    config = shape.get("config") if isinstance(shape.get("config"), dict) else {}
    dim = shape.get("embedding_dim", config.get("embedding_dim", 1))
    tables = shape.get("table_sizes", [])
    bottom = shape.get("bottom_mlp", [])
    top = shape.get("top_mlp", [])
    return (sum(int(t) for t in tables) * int(dim) + _layer_parameters(bottom, shape.get("num_numerical"))
            + _layer_parameters(top, None))


def check_shape(path: Path, what: str, shape: Any, held: int) -> None:
    """Refuse a recorded model ``shape`` that describes more parameters than the ``held`` tensor elements (or
    whose sizes are not non-negative whole numbers), naming the field."""
    if not isinstance(shape, dict):
        raise UserError(f"{what} {path}: field 'shape' is not a mapping; not a dlrmbench checkpoint")
    for field in ("table_sizes", "bottom_mlp", "top_mlp"):
        values = shape.get(field, [])
        if not isinstance(values, list) or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
                                                    for v in values):
            raise UserError(f"{what} {path}: field 'shape.{field}' must be a list of non-negative whole numbers")
    for field in ("embedding_dim", "num_numerical"):
        value = shape.get(field, 0)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise UserError(f"{what} {path}: field 'shape.{field}' must be a non-negative whole number")
    claimed = claimed_parameters(shape)
    if claimed > held:
        biggest = max(shape.get("table_sizes") or [0])
        raise UserError(
            f"{what} {path}: field 'shape' claims a model of at least {claimed:,} parameters "
            f"(shape.table_sizes up to {biggest:,} rows, shape.embedding_dim {shape.get('embedding_dim')}), but the "
            f"file holds {held:,} tensor elements; refused before building it (a corrupt or crafted file): save "
            "the checkpoint again with checkpoint.save")


def tensor_elements(value: Any) -> int:
    """The elements of every tensor in a loaded payload (nested dicts and lists)."""
    if hasattr(value, "numel") and callable(value.numel):
        return int(value.numel())
    if isinstance(value, dict):
        return sum(tensor_elements(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(tensor_elements(v) for v in value)
    return 0


