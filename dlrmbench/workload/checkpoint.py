"""Model checkpoints: tensors and plain metadata only, loaded with ``torch.load(weights_only=True)``.

A checkpoint records the model shape it was saved from; loading into a different shape is refused
with both shapes in the message instead of failing deep inside ``load_state_dict``. Files are
written atomically (temporary file, then rename), so an interrupted save never leaves a torn file.

What a checkpoint holds to resume training: the model's state dict (which includes the state of an
optimizer a strategy applies itself, e.g. ``torchrec_fused``'s fused Adagrad accumulators, through
``get_extra_state``) and the optimizer plugin's state (``optimizer``: the plugin's name and its
``state_dict()``). A train case that loads a checkpoint continues from both when its
``optimizer.name`` is the saved one, and starts the optimizer afresh otherwise (fine-tuning with
another optimizer; a test case needs none). The schedule and the data start again at step 1: a
resumed run equals the uninterrupted one for a constant learning rate and data that repeat per epoch.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import torch

from dlrmbench.config.schema import DEFAULT_FAMILY, Case
from dlrmbench.errors import UserError
from dlrmbench.workload.checkpoint_bounds import check_archive, check_shape, tensor_elements
from dlrmbench.safe_text import first_line

FORMAT = "dlrmbench-checkpoint-1"




def model_shape(case: Case, table_sizes: list[int]) -> dict[str, Any]:
    """What must match for weights to fit: the architecture and the embedding strategy (another family's:
    its whole model configuration but the table clipping, the table sizes and the strategy)."""
    m = case.model
    if m.family != DEFAULT_FAMILY:
        return {"family": m.family, "config": m.model_dump(mode="json", exclude={"table_sizes", "max_table_size"}),
                "table_sizes": [int(s) for s in table_sizes], "embedding": case.embedding.name}
    return {
        "num_numerical": m.num_numerical,
        "bottom_mlp": list(m.bottom_mlp),
        "top_mlp": list(m.top_mlp),
        "embedding_dim": m.embedding_dim,
        # the name alone when it has no options: checkpoints written before interactions were plugins match
        "interaction": m.interaction.name if not m.interaction.options else m.interaction.model_dump(mode="json"),
        "table_sizes": [int(s) for s in table_sizes],
        "embedding": case.embedding.name,
    }


def _describe(shape: dict[str, Any]) -> str:
    sizes = shape.get("table_sizes", [])
    tables = f"{len(sizes)} tables, {sum(sizes):,} rows" if len(sizes) > 6 else f"tables {sizes}"
    if "family" in shape:
        return f"family {shape['family']} {shape.get('config')} {tables} embedding {shape.get('embedding')}"
    return (
        f"bottom {shape.get('bottom_mlp')} top {shape.get('top_mlp')} dim {shape.get('embedding_dim')} "
        f"{shape.get('interaction')} {tables} embedding {shape.get('embedding')} "
        f"numerical {shape.get('num_numerical')}"
    )


def _on_cpu(value: Any) -> Any:
    """``value`` with every tensor in it detached, moved to the CPU and made contiguous."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu").contiguous()
    if isinstance(value, dict):
        return {k: _on_cpu(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_on_cpu(v) for v in value)
    return value


def save_checkpoint(model: torch.nn.Module, path: Path, case: Case, table_sizes: list[int],
                    extra: dict[str, Any] | None = None, optimizer: Any = None) -> None:
    """Write ``model``'s weights (on the CPU), its shape and, when given, ``optimizer``'s state to ``path``
    atomically."""
    state = _on_cpu(model.state_dict())
    payload = {"format": FORMAT, "shape": model_shape(case, table_sizes), "state": state,
               "meta": {"case": case.name, "seed": case.seed, **(extra or {})}}
    if optimizer is not None:
        payload["optimizer"] = {"name": case.optimizer.name, "state": _on_cpu(optimizer.state_dict())}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        from dlrmbench.results.store import file_mode

        os.fchmod(fd, file_mode())  # mkstemp creates 0600; a checkpoint is shared like any other file
        with os.fdopen(fd, "wb") as handle:
            torch.save(payload, handle)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(model: torch.nn.Module, path: Path, case: Case, table_sizes: list[int]) -> dict[str, Any]:
    """Load ``path`` into ``model`` after checking it is a dlrmbench checkpoint of the same shape.

    Uses ``weights_only=True``: a file holding arbitrary pickled objects is refused, never executed.
    Returns the checkpoint's metadata.
    """
    payload = _read(path, case)
    saved, wanted = payload.get("shape", {}), model_shape(case, table_sizes)
    if saved != wanted:
        differs = ", ".join(k for k in wanted if saved.get(k) != wanted[k])
        raise UserError(
            f"case {case.name}: checkpoint {path} was saved from a different model shape ({differs} differ):\n"
            f"  checkpoint: {_describe(saved)}\n  this case:  {_describe(wanted)}"
        )
    try:
        model.load_state_dict(payload["state"], strict=True)
    except (RuntimeError, ValueError) as exc:
        raise UserError(f"case {case.name}: checkpoint.load {path}: its weights do not fit this model: "
                        f"{first_line(str(exc))}") from None
    return dict(payload.get("meta", {}))


def load_optimizer_state(optimizer: Any, path: Path, case: Case) -> bool:
    """Continue ``optimizer`` (the case's optimizer plugin) from the state saved in ``path``, when the
    checkpoint holds one of the same ``optimizer.name``; False (a fresh optimizer) otherwise."""
    saved = _read(path, case).get("optimizer")
    if not isinstance(saved, dict) or saved.get("name") != case.optimizer.name:
        return False
    try:
        optimizer.load_state_dict(saved["state"])
    except (KeyError, RuntimeError, ValueError) as exc:
        raise UserError(f"case {case.name}: checkpoint.load {path}: its {case.optimizer.name} optimizer state does "
                        f"not fit this model's parameters: {first_line(str(exc))}") from None
    return True


def _read(path: Path, case: Case) -> dict[str, Any]:
    """The payload of the dlrmbench checkpoint at ``path`` (weights only), or a UserError saying why not."""
    if not path.is_file():
        raise UserError(f"case {case.name}: checkpoint.load {path}: no such file (train a case with "
                        "checkpoint.save first, or fix the path)")
    if path.stat().st_size == 0:
        raise UserError(f"case {case.name}: checkpoint.load {path}: the file is empty (an interrupted copy?); "
                        "save the checkpoint again with checkpoint.save")
    what = f"case {case.name}: checkpoint.load"
    check_archive(path, what)  # no member inflates or claims more than the file holds
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # refused by weights_only, or a corrupt, truncated or foreign file
        if isinstance(exc, pickle.UnpicklingError) or "weights_only" in str(exc):
            # Never pass on torch's advice to retry with weights_only=False: that runs the file's code.
            raise UserError(f"case {case.name}: checkpoint.load {path}: refused: the file holds pickled objects "
                            "other than tensors and plain data, which could run code when loaded; dlrmbench loads "
                            "weights only. Use a checkpoint written by dlrmbench (checkpoint.save)") from None
        raise UserError(f"case {case.name}: checkpoint.load {path}: not a readable torch checkpoint (corrupt, "
                        f"truncated or another format): {type(exc).__name__}: {first_line(str(exc))}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise UserError(f"case {case.name}: checkpoint.load {path}: not a dlrmbench checkpoint "
                        f"(expected format {FORMAT})")
    check_shape(path, what, payload.get("shape", {}), tensor_elements(payload.get("state")))
    return payload
