"""Where the exported model comes from: a checkpoint, a suite case, or both.

- ``--checkpoint PATH`` alone: the checkpoint records its model shape and embedding strategy;
  the model is built from that shape (eager backend) and the weights loaded.
- ``--suite FILE --case NAME``: the case's resolved config builds the model (its backend,
  embedding strategy, table sizes, ``hash_indices``), seeded; the weights come from
  ``--checkpoint`` or the case's ``checkpoint.load`` when given (shapes must agree).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dlrmbench.errors import UserError


def case_from_suite(suite: Path, case_name: str, scale_down: bool = False) -> Any:
    """The resolved case named ``case_name`` of ``suite``."""
    from dlrmbench.config.loader import load_suite

    loaded = load_suite(suite)
    cases = {c.name: c for c in loaded.cases}
    if case_name not in cases:
        from dlrmbench.errors import did_you_mean

        raise UserError(f"--case {case_name}: no such case in {suite}{did_you_mean(case_name, list(cases))}; "
                        f"cases are: {', '.join(cases)}")
    case = cases[case_name]
    from dlrmbench.plugins import get_registry

    family = get_registry().get("family", case.model.family)
    if not family.serving:
        raise UserError(f"--case {case_name}: its family {family.name} declares no serving export (dlrmbench "
                        "export writes the serving graphs of families that do; see dlrmbench list-plugins)")
    if scale_down:
        from dlrmbench.config.variants import scale_down as shrink
        from dlrmbench.host import current_host

        case = shrink(case, current_host())
    return case


def read_checkpoint_shape(path: Path) -> dict[str, Any]:
    """The model shape a checkpoint was saved from (refusing anything else as the loader does)."""
    import torch

    from dlrmbench.workload.checkpoint import FORMAT
    from dlrmbench.workload.checkpoint_bounds import check_archive, check_shape, tensor_elements

    if not path.is_file():
        raise UserError(f"--checkpoint {path}: no such file (train a case with checkpoint.save, or fix the path)")
    check_archive(path, "--checkpoint")  # no member inflates or claims more than the file holds
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise UserError(f"--checkpoint {path}: not a loadable weights-only checkpoint "
                        f"({type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT or not isinstance(payload.get("shape"), dict):
        raise UserError(f"--checkpoint {path}: not a dlrmbench checkpoint (expected format {FORMAT})")
    check_shape(path, "--checkpoint", payload["shape"], tensor_elements(payload.get("state")))  # before building
    return payload["shape"]


def case_from_checkpoint(path: Path, hash_indices: bool) -> Any:
    """A CPU case whose model has the checkpoint's recorded shape."""
    from dlrmbench.config.schema import Case

    shape = read_checkpoint_shape(path)
    try:
        return Case.model_validate({
            "name": "export", "device": "cpu", "backend": "eager", "embedding": shape["embedding"],
            "model": {"num_numerical": shape["num_numerical"], "bottom_mlp": shape["bottom_mlp"],
                      "top_mlp": shape["top_mlp"], "embedding_dim": shape["embedding_dim"],
                      "interaction": shape["interaction"], "table_sizes": shape["table_sizes"],
                      "hash_indices": hash_indices},
            "checkpoint": {"load": str(path)},
        })
    except Exception as exc:
        raise UserError(f"--checkpoint {path}: its recorded model shape is not valid ({str(exc)[:300]})") from None


def build_export_model(case: Any, checkpoint: Path | None) -> tuple[Any, dict[str, Any]]:
    """The case's model on the CPU, with the checkpoint's weights when one is given; and its source record."""
    from dlrmbench.workload.build import build_model, resolve, resolve_table_sizes

    resolved = resolve(case.model_copy(update={"device": "cpu"}))
    case = resolved.case
    dataset = None
    if not case.model.table_sizes and not resolved.table_sizes:  # the dataset knows them when it is opened
        import torch

        from dlrmbench.workload.build import open_dataset

        dataset = open_dataset(resolved, torch.device("cpu"))
    sizes = resolve_table_sizes(resolved, dataset)
    model = build_model(resolved, list(sizes))
    hotness = resolved.hotness  # ids per feature of the case's data (multi-hot), None when one-hot
    path = checkpoint
    if path is None and case.checkpoint is not None and case.checkpoint.load is not None:
        from dlrmbench.config.paths import case_path

        path = case_path(case.checkpoint.load, case)
    meta: dict[str, Any] = {}
    if path is not None:
        from dlrmbench.workload.checkpoint import load_checkpoint

        meta = load_checkpoint(model, path, case, list(sizes))
    source = {"case": case.name, "seed": case.seed, "backend": case.backend.name, "embedding": case.embedding.name,
              "interaction": case.model.interaction.name, "checkpoint": str(path) if path is not None else None,
              "checkpoint_meta": meta, "hotness": hotness}
    return model.eval(), source
