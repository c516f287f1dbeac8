"""The ``synthetic`` dataset: deterministic random batches with a learnable click signal.

Labels come from a fixed random "teacher" (a linear model over the numerical features and one
random weight per categorical id), so a trained DLRM reaches an AUC clearly above 0.5 and the
number means something. ``labels: random`` gives the reference's signal-free labels instead.

``on: device`` generates the batches where the model runs (the reference's synthetic_gpu);
``on: disk`` writes the samples once in the split format (the reference's synthetic_disk /
prepare_synthetic_dataset.py) and reads them back through the real ``split`` reader, so the data
path is part of what is measured. The files are reused while the generating options match.
"""

from __future__ import annotations

from typing import Any, Callable, Literal

from pydantic import Field, PositiveInt, model_validator

from dlrmbench import hookimpl
from dlrmbench.plugin_api import PluginOptions, PluginSpec


class SyntheticOptions(PluginOptions):
    """Options of the synthetic dataset."""

    train_samples: PositiveInt = Field(default=32768 * 1024, description="samples in the training split")
    test_samples: PositiveInt = Field(default=32768 * 16, description="samples in the test split")
    table_sizes: list[PositiveInt] | None = Field(
        default=None, description="rows per table; default: model.table_sizes, else 26 x 100000 (reference)"
    )
    num_numerical: PositiveInt = 13
    labels: Literal["teacher", "random"] = Field(default="teacher", description="teacher: learnable signal")
    signal: float = Field(default=2.0, gt=0, description="teacher logit scale: higher = easier to learn")
    distinct_batches: PositiveInt | None = Field(
        default=None, description="generate this many batches and cycle them (None: all samples distinct)"
    )
    seed: int = 0
    on: Literal["device", "disk"] = Field(
        default="device", description="device: generated where the model runs; disk: written once, read back"
    )
    dir: str | None = Field(
        default=None, description="on: disk: where the split files go; default: a folder under the temp dir "
                                  "named by a hash of the generating options"
    )
    model_size: str | None = Field(default=None, description="take the table sizes from this model_size.json")
    multi_hot_sizes: list[PositiveInt] | None = Field(
        default=None, description="ids per feature (multi-hot, e.g. MLPerf DLRMv2's 3,2,1,...,1); None: one-hot")
    multi_hot_distribution: Literal["uniform", "pareto"] = Field(
        default="uniform", description="multi-hot ids as the MLPerf reference makes them (uniform or pareto)")
    id_distribution: Literal["uniform", "criteo"] = Field(
        default="uniform", description="each sample's id per table (the one-hot id, before any multi-hot map): "
        "uniform over the table's rows, or criteo: a bounded power law per table fitted to real Criteo rows, so "
        "that the distinct rows per batch resemble real data (plugins/datasets/id_profile.py, docs/dlrmv2.md)")

    @model_validator(mode="after")
    def _disk_only(self) -> "SyntheticOptions":
        if self.on == "disk" and self.distinct_batches is not None:
            raise ValueError("distinct_batches applies to on: device only (on: disk writes every sample)")
        if self.on == "device" and self.dir is not None:
            raise ValueError("dir applies to on: disk only")
        if self.on == "disk" and self.multi_hot_sizes is not None:
            raise ValueError("multi_hot_sizes applies to on: device only (the split format is one-hot)")
        if self.model_size is not None and self.table_sizes is not None:
            raise ValueError("give table_sizes or model_size, not both")
        return self


DEFAULT_TABLE_SIZES = [100_000] * 26  # --synthetic_dataset_table_sizes default (facts sheet 3.4)


@hookimpl
def register_datasets(register: Callable[[PluginSpec], None]) -> None:
    register(
        PluginSpec(
            kind="dataset",
            name="synthetic",
            summary="random batches generated on the device, labels from a fixed random teacher",
            families=("dlrm",),
            factory="dlrmbench_plugins.datasets._synthetic_impl:build",
            options=SyntheticOptions,
            check=_check_model_size,
            scale_down=scale_down,
            table_sizes=_planned_table_sizes,
            hotness=lambda options, case: list(options.multi_hot_sizes) if options.multi_hot_sizes else None,
            throughput_comparable=uniform_ids_reason,
            auc_comparable=False,  # labels from a random teacher: the AUC says nothing about Criteo
        )
    )


def uniform_ids_reason(options: SyntheticOptions, case: Any) -> str | None:
    """Why a case's throughput cannot be set against its published reference: every published row dlrmbench
    carries was measured on Criteo data (MLPerf DLRMv2's multi-hot Criteo 1TB; NVIDIA's 2020 tables on the
    one-hot Criteo 1TB split at frequency threshold 3 or 15, facts sheet 9), and uniform ids make nearly every
    id of a batch a distinct row on a large table, where real ids repeat. A case without a reference row is
    compared with nothing published: no reason."""
    if getattr(case, "reference", None) is None:
        return None
    if options.id_distribution == "uniform":
        return ("synthetic uniform ids: almost every id of a batch is a distinct row, unlike Criteo's; set "
                "dataset.options.id_distribution: criteo")
    return None


def scale_down(options: dict[str, Any], rows: int, samples: tuple[int, int]) -> dict[str, Any]:
    """Options of a scaled-down case: tables of at most ``rows``, ``samples`` (train, test), <= 8 distinct batches."""
    options = dict(options)
    if options.get("table_sizes"):
        options["table_sizes"] = [min(r, rows) for r in options["table_sizes"]]
    options.update(train_samples=samples[0], test_samples=samples[1],
                   distinct_batches=min(options.get("distinct_batches") or 8, 8))
    return options


def _check_model_size(host: Any, case: Any, options: SyntheticOptions) -> str | None:
    """Refuse a missing or malformed model_size.json at planning time (raises DatasetError)."""
    if case is not None and options.model_size is not None:
        from pathlib import Path

        from dlrmbench.data.errors import DatasetError
        from dlrmbench.data.model_size import read_table_sizes

        try:
            read_table_sizes(Path(options.model_size))
        except DatasetError as exc:
            raise DatasetError(f"case {case.name}: dataset synthetic (options.model_size): {exc.message}") from None
    return None


def _planned_table_sizes(options: SyntheticOptions, case: Any) -> list[int] | None:
    """The sizes the worker will build, known to the planner (a bad model_size.json: None here; the
    capability check names the problem)."""
    from dlrmbench.data.errors import DatasetError

    try:
        return resolve_table_sizes(options, case)
    except (DatasetError, OSError):
        return None


def resolve_table_sizes(options: SyntheticOptions, case: Any) -> list[int]:
    """Table sizes from the options (a list or a model_size.json), else the case's model, else the default."""
    if options.table_sizes:
        return list(options.table_sizes)
    if options.model_size:
        from pathlib import Path

        from dlrmbench.data.model_size import read_table_sizes

        return read_table_sizes(Path(options.model_size))
    model_sizes = getattr(getattr(case, "model", None), "table_sizes", None)
    return list(model_sizes) if model_sizes else list(DEFAULT_TABLE_SIZES)
