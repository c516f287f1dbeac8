"""The ``mlperf_npy`` dataset: the MLPerf DLRMv2 preprocessed Criteo 1TB layout (per-day ``.npy`` files).

Registration only (no torch). The layout and the split rule are in :mod:`dlrmbench.data.mlperf_npy`;
the reader in :mod:`dlrmbench_plugins.datasets._mlperf_npy_impl`. Multi-hot ids are either read from
the materialised ``day_N_sparse_multi_hot.npz`` files (``multi_hot: npz``) or generated on the fly from
``day_N_sparse.npy`` by the reference's method (``multi_hot: generate``); ``auto`` takes the files when
every day has one. ``multi_hot: none`` reads the one-hot ids (the original Criteo 1TB model).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Literal

from pydantic import Field, PositiveInt, model_validator

from dlrmbench import hookimpl
from dlrmbench.plugin_api import DatasetFormat, PluginOptions, PluginSpec

if TYPE_CHECKING:
    from dlrmbench.config.schema import Case
    from dlrmbench.host import Host

# Rows per table of the MLPerf DLRMv2 reference (README: --num_embeddings_per_feature, 40M cap).
MLPERF_TABLE_SIZES = [40000000, 39060, 17295, 7424, 20265, 3, 7122, 1543, 63, 40000000, 3067956, 405282, 10, 2209,
                      11938, 155, 4, 976, 14, 40000000, 40000000, 40000000, 590152, 12973, 108, 36]
MLPERF_HOTNESS = [3, 2, 1, 2, 6, 1, 1, 1, 1, 7, 3, 8, 1, 6, 9, 5, 1, 1, 1, 12, 100, 27, 10, 3, 1, 1]


class MlperfNpyOptions(PluginOptions):
    """Options of the MLPerf preprocessed Criteo reader (reference flags in brackets)."""

    path: str | None = Field(default=None, min_length=1,
                             description="folder of day_N_{labels,dense,sparse}.npy [--in_memory_binary_criteo_path]")
    multi_hot: Literal["auto", "npz", "generate", "none"] = Field(
        default="auto", description="npz: day_N_sparse_multi_hot.npz; generate: the reference's map on the fly; "
                                    "none: one-hot; auto: npz when every day has one, else generate")
    multi_hot_sizes: list[PositiveInt] = Field(default=MLPERF_HOTNESS, description="ids per feature [--multi_hot_sizes]")
    multi_hot_distribution: Literal["uniform", "pareto"] = Field(
        default="uniform", description="generate: id distribution [--multi_hot_distribution_type]")
    check_values: bool = Field(default=True, description="refuse non-0/1 labels and NaN/inf dense values per batch")

    @model_validator(mode="after")
    def _sizes(self) -> "MlperfNpyOptions":
        if len(self.multi_hot_sizes) != 26:
            raise ValueError(f"multi_hot_sizes needs 26 entries (one per Criteo feature), got {len(self.multi_hot_sizes)}")
        return self


def _planning_check(host: "Host", case: "Case | None", options: MlperfNpyOptions) -> str | None:
    """Refuse a missing or malformed dataset before anything runs (raises DatasetError)."""
    if case is None:
        return None
    from pathlib import Path

    from dlrmbench.data.errors import DatasetError
    from dlrmbench.data.mlperf_npy import days_present, split_days

    if options.path is None:
        raise DatasetError(f"case {case.name}: dataset mlperf_npy needs options.path (the folder of day_N_*.npy files)")
    root = Path(options.path)
    npz = options.multi_hot == "npz" or (options.multi_hot == "auto" and all(
        (root / f"day_{d}_sparse_multi_hot.npz").is_file() for d in days_present(root)) and days_present(root))
    try:
        for split in (["train", "test"] if case.mode == "train" else ["test"]):
            split_days(root, split, bool(npz), list(options.multi_hot_sizes))
    except DatasetError as exc:
        raise DatasetError(f"case {case.name}: dataset mlperf_npy (options.path): {exc.message}") from None
    return None


def table_sizes(options: MlperfNpyOptions, case: "Case") -> list[int]:
    """The model's table sizes, else the MLPerf reference's (the layout stores none)."""
    sizes = getattr(getattr(case, "model", None), "table_sizes", None)
    return list(sizes) if sizes else list(MLPERF_TABLE_SIZES)


def hotness(options: MlperfNpyOptions, case: "Case") -> list[int] | None:
    """Ids per sample of each feature: the multi-hot sizes, or None when reading one-hot ids."""
    return None if options.multi_hot == "none" else list(options.multi_hot_sizes)


def _detect(path: Any) -> bool:
    from dlrmbench.data.mlperf_npy import is_mlperf_npy

    return is_mlperf_npy(path)


def _inspect(path: Any, scan: bool) -> dict[str, Any]:
    from dlrmbench.data.validation.inspect_mlperf import inspect_mlperf_npy

    return inspect_mlperf_npy(path, scan)


@hookimpl
def register_datasets(register: Callable[[PluginSpec], None]) -> None:
    register(
        PluginSpec(
            kind="dataset",
            name="mlperf_npy",
            families=("dlrm",),
            summary="MLPerf DLRMv2 preprocessed Criteo 1TB (day_N_*.npy, multi-hot .npz or generated), memory-mapped",
            factory="dlrmbench_plugins.datasets._mlperf_npy_impl:build",
            options=MlperfNpyOptions,
            check=_planning_check,
            table_sizes=table_sizes,
            hotness=hotness,
            format=DatasetFormat(detect=_detect, table_sizes=lambda path: None, inspect=_inspect, priority=1),
        )
    )
