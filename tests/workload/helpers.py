"""Small builders shared by the workload tests: tiny cases, in-memory datasets, workloads."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import torch

from dlrmbench.config.schema import Case
from dlrmbench.batch import Batch
from dlrmbench.workload.build import Workload, resolve, workload_over

TABLES = [7, 5, 3]


def tiny_case(**overrides: Any) -> Case:
    """A 3-feature DLRM small enough to recompute by hand: bottom 3-5-4, dim 4, top 6-3-1."""
    raw: dict[str, Any] = {
        "name": "tiny", "device": "cpu", "precision": "fp32", "batch_size": 8, "test_batch_size": 16,
        "epochs": 1, "seed": 3, "progress_every": 1,
        "model": {"num_numerical": 3, "bottom_mlp": [5, 4], "embedding_dim": 4, "top_mlp": [6, 3, 1],
                  "table_sizes": list(TABLES)},
        "optimizer": {"lr": 0.5, "warmup_steps": 0, "decay_start_step": 0, "decay_steps": 0},
        "dataset": {"name": "synthetic", "options": {"train_samples": 64, "test_samples": 32, "seed": 1,
                                                          "num_numerical": 3}},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(raw.get(key), dict):
            raw[key] = {**raw[key], **value}
        else:
            raw[key] = value
    return Case.model_validate(raw)


def random_batch(size: int, num_numerical: int, tables: list[int], seed: int) -> Batch:
    g = torch.Generator().manual_seed(seed)
    numerical = torch.randn(size, num_numerical, generator=g)
    categorical = torch.stack([torch.randint(0, n, (size,), generator=g) for n in tables], dim=1)
    label = (torch.rand(size, generator=g) < 0.4).float()
    return Batch(numerical, categorical, label)


class ListDataset:
    """The Dataset contract over fixed lists of batches."""

    def __init__(self, train: list[Batch], test: list[Batch], sizes: list[int]) -> None:
        self.splits = {"train": train, "test": test}
        self.sizes = sizes

    def table_sizes(self) -> list[int]:
        return list(self.sizes)

    def batches(self, split: str, batch_size: int, device: torch.device) -> list[Batch]:
        return list(self.splits[split])


def workload(case: Case, dataset: Any) -> Workload:
    sizes = list(case.model.table_sizes or dataset.table_sizes())
    return workload_over(resolve(case), dataset, sizes)


def rel_err(actual: torch.Tensor, expected: torch.Tensor) -> float:
    """Norm-wise relative error ``|a - e| / |e|`` in float64."""
    a, e = actual.detach().double(), expected.detach().double()
    return float((a - e).norm() / e.norm().clamp_min(1e-300))


REAL_CRITEO_BENCH = Path(__file__).resolve().parents[2] / "bench" / "real_criteo.py"


def real_criteo_bench() -> Any:
    """bench/real_criteo.py as a module: its preprocessing of the shared real Criteo rows and its small model."""
    spec = importlib.util.spec_from_file_location("real_criteo_bench", REAL_CRITEO_BENCH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module
