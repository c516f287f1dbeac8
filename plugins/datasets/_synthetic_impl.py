"""Generation of synthetic batches (imports torch). Data is made before any timing starts."""

from __future__ import annotations

import hashlib
import json
import math
import tempfile
from pathlib import Path
from typing import Any, Iterator

import torch

from dlrmbench.plugin_api import BuildContext

from dlrmbench.batch import Batch, SparseFeatures
from dlrmbench.data.share import BatchShare
from dlrmbench_plugins.datasets.synthetic import SyntheticOptions, resolve_table_sizes

DISK_CHUNK = 65536  # samples generated and written at a time (independent of the batch size)
STAMP = "synthetic.json"  # what generated the files: they are reused while it matches


class _Teacher:
    """A fixed random click model: logit = signal * (x.w + sum_f t_f[id_f]) / scale."""

    def __init__(self, table_sizes: list[int], num_numerical: int, signal: float, generator: torch.Generator) -> None:
        self.numeric_weight = torch.randn(num_numerical, generator=generator)
        self.tables = [torch.randn(rows, generator=generator) for rows in table_sizes]
        self.scale = math.sqrt(num_numerical + len(table_sizes))
        self.signal = signal

    def logits(self, numerical: torch.Tensor, categorical: torch.Tensor, multi_hot: Any = None) -> torch.Tensor:
        """``multi_hot`` (one ``(B, h_f)`` id tensor per feature): each feature adds its ids' mean weight."""
        total = (numerical - 0.5) @ self.numeric_weight * 2.0
        for f, table in enumerate(self.tables):
            total = total + (table[multi_hot[f]].mean(dim=1) if multi_hot is not None else table[categorical[:, f]])
        return self.signal * total / self.scale * 2.0


class IdSampler:
    """Each sample's one-hot id per table: uniform over the rows, or ``criteo``: the bounded power law of
    :mod:`dlrmbench_plugins.datasets.id_profile` (inverse CDF in float64, ranks scattered over the rows)."""

    def __init__(self, table_sizes: list[int], distribution: str) -> None:
        from dlrmbench_plugins.datasets.id_profile import MAX_ROWS, exponents_for

        self.rows = torch.tensor(table_sizes, dtype=torch.int64)
        self.exponents = None
        if distribution == "criteo":
            if max(table_sizes) > MAX_ROWS:
                raise ValueError(f"id_distribution criteo: a table of {max(table_sizes)} rows is larger than "
                                 f"{MAX_ROWS}; use id_distribution: uniform")
            self.exponents = torch.tensor(exponents_for(table_sizes), dtype=torch.float64)

    def __call__(self, count: int, generator: torch.Generator) -> torch.Tensor:
        """``(count, tables)`` int64 ids."""
        if self.exponents is None:
            ids = (torch.rand(count, len(self.rows), generator=generator) * self.rows).long()
            return torch.minimum(ids, self.rows - 1)
        from dlrmbench_plugins.datasets.id_profile import SCATTER

        u = torch.rand(count, len(self.rows), generator=generator, dtype=torch.float64)
        log_top = torch.log(self.rows.double() + 1.0)
        a = 1.0 - self.exponents
        near_one = a.abs() < 1e-9
        safe_a = torch.where(near_one, torch.ones_like(a), a)
        x = torch.where(near_one, torch.exp(u * log_top), torch.exp(torch.log1p(u * torch.expm1(safe_a * log_top)) / safe_a))
        rank = torch.clamp(torch.floor(x).long() - 1, min=0)
        rank = torch.minimum(rank, self.rows - 1)
        return (rank * SCATTER) % self.rows


class SyntheticSplit:
    """The batches of one split, generated once on ``device`` and iterated in order."""

    def __init__(self, batches: list[Batch], samples: int) -> None:
        self._batches = batches
        self.samples = samples

    def __len__(self) -> int:
        return len(self._batches)

    def __iter__(self) -> Iterator[Batch]:
        return iter(self._batches)


def _split_seed(seed: int, split: str) -> int:
    return seed * 1_000_003 + (1 if split == "train" else 2)


def disk_recipe(options: SyntheticOptions, sizes: list[int]) -> dict[str, Any]:
    """Everything that decides the bytes of the on-disk dataset."""
    return {"format": "split", "version": 1, "table_sizes": sizes, "train_samples": options.train_samples,
            "test_samples": options.test_samples, "num_numerical": options.num_numerical,
            "labels": options.labels, "signal": options.signal, "seed": options.seed, "chunk": DISK_CHUNK,
            **({"id_distribution": options.id_distribution} if options.id_distribution != "uniform" else {})}


def disk_directory(options: SyntheticOptions, recipe: dict[str, Any]) -> Path:
    if options.dir:
        return Path(options.dir)
    key = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / "dlrmbench-synthetic" / key


def write_synthetic_split_dataset(directory: Path, options: SyntheticOptions, sizes: list[int]) -> None:
    """Generate both splits in chunks and write them with the split writer (atomically, with a stamp)."""
    from dlrmbench.data.split import SplitDatasetWriter

    recipe = disk_recipe(options, sizes)
    teacher = _Teacher(sizes, options.num_numerical, options.signal, torch.Generator().manual_seed(options.seed))
    draw_ids = IdSampler(sizes, options.id_distribution)
    with SplitDatasetWriter(directory, sizes, options.num_numerical) as writer:
        for split, samples in (("train", options.train_samples), ("test", options.test_samples)):
            generator = torch.Generator().manual_seed(_split_seed(options.seed, split))
            out = writer.split(split)
            for start in range(0, samples, DISK_CHUNK):
                n = min(DISK_CHUNK, samples - start)
                numerical = torch.rand(n, options.num_numerical, generator=generator).half().float()  # as stored
                categorical = draw_ids(n, generator)
                if options.labels == "teacher":
                    p = torch.sigmoid(teacher.logits(numerical, categorical))
                else:
                    p = torch.full((n,), 0.5)
                label = torch.rand(n, generator=generator) < p
                out.write(label.numpy(), numerical.numpy(), categorical.numpy())
        writer.write_text(STAMP, json.dumps(recipe, indent=1) + "\n")


def ensure_on_disk(options: SyntheticOptions, sizes: list[int]) -> Path:
    """The directory of the on-disk dataset, written now unless a matching one is already there."""
    from dlrmbench.data.errors import DatasetError

    recipe = disk_recipe(options, sizes)
    directory = disk_directory(options, recipe)
    stamp = directory / STAMP
    if stamp.is_file():
        try:
            if json.loads(stamp.read_text()) == recipe:
                return directory
        except (OSError, json.JSONDecodeError):
            pass
    elif directory.exists() and any(directory.iterdir()):
        raise DatasetError(f"{directory}: exists and was not written by the synthetic generator (no {STAMP}); "
                           f"set dataset.options.dir to an empty or new folder")
    write_synthetic_split_dataset(directory, options, sizes)
    return directory


class SyntheticDataset:
    """Deterministic synthetic data: the same seed gives the same samples on every machine."""

    def __init__(self, options: SyntheticOptions, case: Any = None) -> None:
        self.options = options
        self._sizes = resolve_table_sizes(options, case)
        model_sizes = getattr(getattr(case, "model", None), "table_sizes", None)
        # ids are drawn inside these sizes: valid for the model unless it was given other sizes
        self.ids_validated = not model_sizes or list(model_sizes) == self._sizes
        self._files = None
        if options.on == "disk":
            from dlrmbench_plugins.datasets._files_impl import FileDataset
            from dlrmbench_plugins.datasets.files import ReaderOptions

            directory = ensure_on_disk(options, self._sizes)
            self.path = directory
            self._files = FileDataset(ReaderOptions(path=str(directory)), case, fmt="split")

    def table_sizes(self) -> list[int]:
        return list(self._sizes)

    @property
    def hotness(self) -> list[int] | None:
        """Ids per feature in multi-hot mode, else None (one-hot)."""
        return list(self.options.multi_hot_sizes) if self.options.multi_hot_sizes else None

    def _multi_hot_expander(self) -> Any:
        """The reference's one-hot -> multi-hot map (seeded like the reference: np.random.seed(0))."""
        if not self.options.multi_hot_sizes:
            return None
        from dlrmbench_plugins.datasets._multihot import MultiHotExpander

        if len(self.options.multi_hot_sizes) != len(self._sizes):
            raise ValueError(f"dataset.options.multi_hot_sizes has {len(self.options.multi_hot_sizes)} entries for "
                             f"{len(self._sizes)} tables; give one per table")
        return MultiHotExpander(self._sizes, list(self.options.multi_hot_sizes), self.options.multi_hot_distribution)

    def bytes_read(self) -> int | None:
        """Bytes read from the on-disk files (None on the device: generated, nothing is read)."""
        return self._files.bytes_read() if self._files is not None else None

    def rank_batches(self, split: str, batch_size: int, device: torch.device, share: BatchShare) -> Any:
        """Only ``share`` of every global batch: read from the files (on: disk), or generated whole (the same
        samples as one process) and cut before it goes to the device (on: device)."""
        if self._files is not None:
            return self._files.rank_batches(split, batch_size, device, share)
        return self.batches(split, batch_size, device, share)

    def batches(self, split: str, batch_size: int, device: torch.device, share: BatchShare | None = None) -> Any:
        if self._files is not None:
            return self._files.batches(split, batch_size, device)
        opts = self.options
        samples = opts.train_samples if split == "train" else opts.test_samples
        if batch_size > samples:
            raise ValueError(
                f"batch size {batch_size} is larger than the synthetic {split} split ({samples} samples); "
                f"raise dataset.options.{split}_samples or lower the batch size"
            )
        teacher = _Teacher(self._sizes, opts.num_numerical, opts.signal, torch.Generator().manual_seed(opts.seed))
        generator = torch.Generator().manual_seed(_split_seed(opts.seed, split))
        count = samples // batch_size
        if opts.distinct_batches is not None:
            count = min(count, opts.distinct_batches)
        draw_ids = IdSampler(self._sizes, opts.id_distribution)
        expander = self._multi_hot_expander()
        out = []
        for _ in range(count):
            numerical = torch.rand(batch_size, opts.num_numerical, generator=generator)
            categorical = draw_ids(batch_size, generator)
            multi_hot = expander(categorical) if expander is not None else None
            if opts.labels == "teacher":
                p = torch.sigmoid(teacher.logits(numerical, categorical, multi_hot))
                label = (torch.rand(batch_size, generator=generator) < p).float()
            else:
                label = (torch.rand(batch_size, generator=generator) < 0.5).float()
            ids = SparseFeatures.from_fixed(multi_hot) if multi_hot is not None else categorical
            batch = Batch(numerical, ids, label)
            out.append((batch.share(share) if share is not None else batch).to(device))
        length = samples // batch_size
        return SyntheticSplit(out * (length // len(out)) + out[: length % len(out)], count * batch_size)


def build(ctx: BuildContext) -> SyntheticDataset:
    return SyntheticDataset(ctx.options, ctx.case)
