"""The file-backed datasets: ``binary``, ``split`` and ``memmap`` (facts sheet 3.1-3.3).

Registration only (no torch). The readers live in :mod:`dlrmbench_plugins.datasets._files_impl`.
A bad dataset is refused twice: at planning time by a cheap structural check (missing path,
empty directory, model_size.json, file sizes that are not whole samples or disagree), so
``dlrmbench run`` stops before running anything; and again when the worker opens it, which also
scans every categorical file once for ids at or above their table size.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal

from pydantic import Field, PositiveInt

from dlrmbench import hookimpl
from dlrmbench.plugin_api import DatasetFormat, PluginOptions, PluginSpec

if TYPE_CHECKING:
    from dlrmbench.config.schema import Case
    from dlrmbench.host import Host


class ReaderOptions(PluginOptions):
    """Options every file reader honours (reference flags in brackets)."""

    path: str | None = Field(default=None, min_length=1, description="the dataset directory [--dataset]; required")
    dataset_subset: float = Field(default=1.0, gt=0, le=1,
                                  description="train on the first fraction of the training batches [--dataset_subset]")
    shuffle_batch_order: bool = Field(default=False,
                                      description="permute the training batch order every epoch, seeded "
                                                  "[--shuffle_batch_order]")
    shuffle_seed: int | None = Field(default=None, description="seed of the batch permutation; default: the case's seed")
    drop_last_batch: bool = Field(default=False, description="drop the final partial batch [--drop_last_batch]")
    prefetch: int = Field(default=10, ge=0, description="batches staged ahead by a background thread (0: off)")
    prefetch_workers: PositiveInt = Field(default=1, description="threads reading and converting batches")
    check_values: bool = Field(default=True,
                               description="scan every categorical file once on open for ids >= the table size")


class MemmapOptions(ReaderOptions):
    """The memmap reader reads either on-disk layout."""

    format: Literal["auto", "split", "binary"] = Field(default="auto", description="auto: detect from the files")


def splits_needed(case: "Case | None") -> list[str]:
    """The splits a case reads: train and test to train, test otherwise."""
    return ["train", "test"] if case is None or case.mode == "train" else ["test"]


def planning_check(fmt: str) -> Callable[["Host", "Case | None", Any], "str | None"]:
    """A capability check that refuses a bad dataset before anything runs (raises DatasetError)."""

    def check(host: "Host", case: "Case | None", options: Any) -> str | None:
        if case is None:  # list-plugins: nothing to check without a path
            return None
        from dlrmbench.data.errors import DatasetError
        from dlrmbench.data.open import check_structure, detect_format

        try:
            if options.path is None:
                raise DatasetError("dataset.options.path is not set; give the dataset directory")
            detected = detect_format(Path(options.path))
            if fmt != "auto" and detected != fmt:
                raise DatasetError(f"{options.path}: holds a {detected} dataset, not a {fmt} one; "
                                   f"use dataset: {detected}")
            sizes = check_structure(Path(options.path), detected, splits_needed(case), case.model.num_numerical)
            if sizes is None and not case.model.table_sizes:
                raise DatasetError(f"{options.path}: no model_size.json, and the case sets no model.table_sizes; "
                                   f"give one of them (the embedding tables need their sizes)")
        except DatasetError as exc:
            raise DatasetError(f"case {case.name}: dataset {case.dataset.name}: {exc.message}") from None
        return None

    return check


def planned_table_sizes(fmt: str) -> Callable[[Any, "Case"], "list[int] | None"]:
    """The table sizes the worker will build, read from the data's model_size.json before it runs, so
    that the memory plan of ``plan`` and ``run`` is made from them (a bad dataset: None here; the
    planning check names the problem)."""

    def sizes(options: Any, case: "Case") -> list[int] | None:
        from dlrmbench.data.errors import DatasetError
        from dlrmbench.data.open import detect_format, table_sizes

        if options.path is None:
            return None
        try:
            path = Path(options.path)
            wanted = getattr(options, "format", fmt)
            return table_sizes(path, detect_format(path) if wanted == "auto" else wanted)
        except (DatasetError, OSError):
            return None

    return sizes


def _memmap_check(host: "Host", case: "Case | None", options: Any) -> str | None:
    return planning_check(options.format)(host, case, options)


def file_format(fmt: str) -> DatasetFormat:
    """The detector, table sizes and inspector of the reference's ``split`` or ``binary`` layout."""

    def detect(path: Path) -> bool:
        from dlrmbench.data.errors import DatasetError
        from dlrmbench.data.open import detect_format

        try:
            return detect_format(path) == fmt
        except (DatasetError, OSError):
            return False

    def sizes(path: Path) -> list[int] | None:
        from dlrmbench.data.open import table_sizes

        return table_sizes(path, fmt)  # type: ignore[arg-type]

    def inspect(path: Path, scan: bool) -> dict[str, Any]:
        from dlrmbench.data.validation.inspect import inspect_dataset

        return inspect_dataset(path, scan=scan)

    return DatasetFormat(detect=detect, table_sizes=sizes, inspect=inspect)


@hookimpl
def register_datasets(register: Callable[[PluginSpec], None]) -> None:
    impl = "dlrmbench_plugins.datasets._files_impl"
    register(PluginSpec(
        kind="dataset", name="binary", families=("dlrm",),
        summary="the reference's 160-byte records (train_data.bin, test_data.bin), read with pread",
        factory=f"{impl}:build_binary", options=ReaderOptions, check=planning_check("binary"),
        table_sizes=planned_table_sizes("binary"),
        format=file_format("binary"),
    ))
    register(PluginSpec(
        kind="dataset", name="split", families=("dlrm",),
        summary="the reference's per-feature files (label, float16 numerical, cat_i) + model_size.json",
        factory=f"{impl}:build_split", options=ReaderOptions, check=planning_check("split"),
        table_sizes=planned_table_sizes("split"),
        format=file_format("split"),
    ))
    register(PluginSpec(
        kind="dataset", name="memmap", families=("dlrm",),
        summary="zero-copy np.memmap reading of split or binary files",
        factory=f"{impl}:build_memmap", options=MemmapOptions, check=_memmap_check,
        table_sizes=planned_table_sizes("auto"),
    ))
