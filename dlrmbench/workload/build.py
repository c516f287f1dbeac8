"""Turn a resolved case into live objects: dataset, embedding strategy, backend, model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from dlrmbench.config.schema import Case
from dlrmbench.errors import UserError
from dlrmbench.model.dlrm import build_dlrm
from dlrmbench.plugins import get_registry


@dataclass
class Workload:
    """Everything one case runs with."""

    case: Case
    device: torch.device
    dataset: Any
    model: torch.nn.Module
    table_sizes: list[int]


def _instantiate(kind: str, case: Case) -> tuple[Any, Any]:
    ref = getattr(case, kind)
    spec = get_registry().get(kind, ref.name)  # type: ignore[arg-type]
    options = spec.options.model_validate(ref.options)
    return spec.load(), options


def resolve_table_sizes(case: Case, dataset: Any) -> list[int]:
    """Table sizes from the case's model, else the dataset; clipped by ``max_table_size``."""
    sizes = case.model.table_sizes or dataset.table_sizes()
    if not sizes:
        raise UserError(
            f"case {case.name}: no table sizes: set model.table_sizes or use a dataset that provides them"
        )
    if case.model.max_table_size is not None:
        sizes = [min(s, case.model.max_table_size) for s in sizes]
    return list(sizes)


def case_device(case: Case, local_rank: int = 0) -> torch.device:
    if case.device == "cuda":
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def build_workload(case: Case, local_rank: int = 0) -> Workload:
    """Open the dataset and build the model of ``case`` on its device, seeded (or from its checkpoint)."""
    device = case_device(case, local_rank)
    torch.manual_seed(case.seed)
    dataset_factory, dataset_options = _instantiate("dataset", case)
    dataset = dataset_factory(dataset_options, case)
    table_sizes = resolve_table_sizes(case, dataset)
    model = build_model(case, table_sizes)
    if case.checkpoint is not None and case.checkpoint.load is not None:
        from dlrmbench.workload.checkpoint import load_checkpoint, resolve_path

        load_checkpoint(model, resolve_path(case.checkpoint.load, case), case, table_sizes)
    model = model.to(device)
    if getattr(dataset, "ids_validated", False):  # checked once in the data layer, not again every step
        model.embeddings.check_every_batch = False
    return Workload(case=case, device=device, dataset=dataset, model=model, table_sizes=table_sizes)


def build_model(case: Case, table_sizes: list[int]) -> torch.nn.Module:
    """The case's DLRM on the CPU, from its backend and embedding plugins, initialised from its seed."""
    backend_factory, backend_options = _instantiate("backend", case)
    embedding_factory, embedding_options = _instantiate("embedding", case)
    backend = backend_factory(backend_options)
    embeddings = embedding_factory(table_sizes, case.model.embedding_dim, case.model.hash_indices, embedding_options)
    return build_dlrm(
        backend,
        embeddings,
        num_numerical=case.model.num_numerical,
        bottom_sizes=list(case.model.bottom_mlp),
        top_sizes=list(case.model.top_mlp),
        interaction=case.model.interaction,
        seed=case.seed,
    )
