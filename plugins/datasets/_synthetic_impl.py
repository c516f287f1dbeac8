"""Generation of synthetic batches (imports torch). Data is made before any timing starts."""

from __future__ import annotations

import math
from typing import Any, Iterator

import torch

from dlrmbench.workload.data import Batch
from dlrmbench_plugins.datasets.synthetic import SyntheticOptions, resolve_table_sizes


class _Teacher:
    """A fixed random click model: logit = signal * (x.w + sum_f t_f[id_f]) / scale."""

    def __init__(self, table_sizes: list[int], num_numerical: int, signal: float, generator: torch.Generator) -> None:
        self.numeric_weight = torch.randn(num_numerical, generator=generator)
        self.tables = [torch.randn(rows, generator=generator) for rows in table_sizes]
        self.scale = math.sqrt(num_numerical + len(table_sizes))
        self.signal = signal

    def logits(self, numerical: torch.Tensor, categorical: torch.Tensor) -> torch.Tensor:
        total = (numerical - 0.5) @ self.numeric_weight * 2.0
        for f, table in enumerate(self.tables):
            total = total + table[categorical[:, f]]
        return self.signal * total / self.scale * 2.0


class SyntheticSplit:
    """The batches of one split, generated once on ``device`` and iterated in order."""

    def __init__(self, batches: list[Batch], samples: int) -> None:
        self._batches = batches
        self.samples = samples

    def __len__(self) -> int:
        return len(self._batches)

    def __iter__(self) -> Iterator[Batch]:
        return iter(self._batches)


class SyntheticDataset:
    """Deterministic synthetic data: the same seed gives the same samples on every machine."""

    def __init__(self, options: SyntheticOptions, case: Any = None) -> None:
        self.options = options
        self._sizes = resolve_table_sizes(options, case)

    def table_sizes(self) -> list[int]:
        return list(self._sizes)

    def batches(self, split: str, batch_size: int, device: torch.device) -> SyntheticSplit:
        opts = self.options
        samples = opts.train_samples if split == "train" else opts.test_samples
        if batch_size > samples:
            raise ValueError(
                f"batch size {batch_size} is larger than the synthetic {split} split ({samples} samples); "
                f"raise dataset.options.{split}_samples or lower the batch size"
            )
        teacher = _Teacher(self._sizes, opts.num_numerical, opts.signal, torch.Generator().manual_seed(opts.seed))
        generator = torch.Generator().manual_seed(opts.seed * 1_000_003 + (1 if split == "train" else 2))
        count = samples // batch_size
        if opts.distinct_batches is not None:
            count = min(count, opts.distinct_batches)
        sizes = torch.tensor(self._sizes, dtype=torch.int64)
        out = []
        for _ in range(count):
            numerical = torch.rand(batch_size, opts.num_numerical, generator=generator)
            categorical = (torch.rand(batch_size, len(self._sizes), generator=generator) * sizes).long()
            categorical = torch.minimum(categorical, sizes - 1)
            if opts.labels == "teacher":
                p = torch.sigmoid(teacher.logits(numerical, categorical))
                label = (torch.rand(batch_size, generator=generator) < p).float()
            else:
                label = (torch.rand(batch_size, generator=generator) < 0.5).float()
            out.append(Batch(numerical, categorical, label).to(device))
        length = samples // batch_size
        return SyntheticSplit(out * (length // len(out)) + out[: length % len(out)], count * batch_size)
