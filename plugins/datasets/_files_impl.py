"""The file readers behind ``binary``, ``split`` and ``memmap`` (imports torch; worker only)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from dlrmbench.plugin_api import BuildContext

from dlrmbench.data.errors import DatasetError
from dlrmbench.data.open import Format, detect_format, open_source, scan_values, table_sizes
from dlrmbench.data.raw import SampleSource
from dlrmbench.data.share import BatchShare
from dlrmbench.data.split import DEFAULT_NUM_NUMERICAL
from dlrmbench.data.stream import BatchOrder, FileBatchStream
from dlrmbench_plugins.datasets.files import ReaderOptions, splits_needed


def checked_table_sizes(case: Any, dataset_sizes: list[int] | None, num_features: int) -> list[int] | None:
    """The table sizes ids must stay below: the model's (what the embedding uses), else the dataset's.

    ``None`` (no upper check) when the model folds ids with ``hash_indices``.
    """
    model = getattr(case, "model", None)
    if model is not None and model.hash_indices:
        return None
    sizes = (model.table_sizes if model is not None else None) or dataset_sizes
    if sizes is not None and len(sizes) != num_features:
        raise DatasetError(f"model.table_sizes has {len(sizes)} entries, but the dataset has {num_features} "
                           f"categorical features; remove model.table_sizes to take them from model_size.json")
    return list(sizes) if sizes else None


class FileDataset:
    """A dataset directory opened once: the needed splits are checked (and scanned) up front.

    Args:
        options: the reader options.
        case: the case (its mode decides which splits are opened now; its seed seeds shuffling).
        fmt: ``split`` or ``binary`` (``None``: detect).
        memmap: read through memory maps instead of ``pread``.
    """

    def __init__(self, options: ReaderOptions, case: Any = None, fmt: Format | None = None, memmap: bool = False) -> None:
        self.options = options
        self.case = case
        if options.path is None:
            raise DatasetError("dataset.options.path is not set; give the dataset directory")
        self.path = Path(options.path)
        detected = detect_format(self.path)
        if fmt is not None and detected != fmt:
            raise DatasetError(f"{self.path}: holds a {detected} dataset, not a {fmt} one; use dataset: {detected}")
        self.format: Format = detected
        self.memmap = memmap
        self.num_numerical = getattr(getattr(case, "model", None), "num_numerical", DEFAULT_NUM_NUMERICAL)
        self._sizes = table_sizes(self.path, self.format)
        self._sources: dict[str, SampleSource] = {}
        self.scans: dict[str, Any] = {}
        self.ids_validated = options.check_values  # every file is scanned when opened (see _open)
        for name in splits_needed(case):
            self._open(name)

    def _open(self, split: str) -> SampleSource:
        if split not in self._sources:
            source = open_source(self.path, self.format, split, self._sizes, memmap=self.memmap,
                                 num_numerical=self.num_numerical)
            source.watch_files()  # type: ignore[attr-defined]  # fingerprinted now, checked while read
            if self.options.check_values:
                limits = checked_table_sizes(self.case, self._sizes, source.num_categorical)
                self.scans[split] = scan_values(source, limits)
            self._sources[split] = source
        return self._sources[split]

    def table_sizes(self) -> list[int] | None:
        return list(self._sizes) if self._sizes else None

    def data_files(self) -> dict[str, Any]:
        """The fingerprints of the files opened (what the result records, :mod:`dlrmbench.data.watch`)."""
        from dlrmbench.data.watch import data_record

        return data_record(self.path, [source.watch for source in self._sources.values()])  # type: ignore[attr-defined]

    def bytes_read(self) -> int:
        """Bytes this process's batch reads returned, over every split (the open-time scan not included)."""
        return sum(source.bytes_read.bytes for source in self._sources.values())

    def rank_batches(self, split: str, batch_size: int, device: torch.device, share: BatchShare) -> FileBatchStream:
        """Only ``share`` of every global batch of ``split``: its rows' labels, and its files' rows
        (:class:`~dlrmbench.data.share.BatchShare`)."""
        return self.batches(split, batch_size, device, share)

    def batches(self, split: str, batch_size: int, device: torch.device,
                share: BatchShare | None = None) -> FileBatchStream:
        source = self._open(split)
        opts = self.options
        training = split == "train"
        seed = opts.shuffle_seed if opts.shuffle_seed is not None else getattr(self.case, "seed", 0)
        order = BatchOrder(
            samples=source.samples,
            batch_size=batch_size,
            drop_last=opts.drop_last_batch,
            subset=opts.dataset_subset if training else 1.0,
            shuffle=opts.shuffle_batch_order and training,
            seed=seed,
        )
        return FileBatchStream(source, order, device, opts.prefetch, opts.prefetch_workers, share)


class BinaryDataset(FileDataset):
    def __init__(self, options: ReaderOptions, case: Any = None) -> None:
        super().__init__(options, case, fmt="binary")


class SplitDataset(FileDataset):
    def __init__(self, options: ReaderOptions, case: Any = None) -> None:
        super().__init__(options, case, fmt="split")


class MemmapDataset(FileDataset):
    def __init__(self, options: Any, case: Any = None) -> None:
        super().__init__(options, case, fmt=None if options.format == "auto" else options.format, memmap=True)


def build_binary(ctx: BuildContext) -> BinaryDataset:
    return BinaryDataset(ctx.options, ctx.case)


def build_split(ctx: BuildContext) -> SplitDataset:
    return SplitDataset(ctx.options, ctx.case)


def build_memmap(ctx: BuildContext) -> MemmapDataset:
    return MemmapDataset(ctx.options, ctx.case)
