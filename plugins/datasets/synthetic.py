"""The ``synthetic`` dataset: deterministic random batches with a learnable click signal.

Labels come from a fixed random "teacher" (a linear model over the numerical features and one
random weight per categorical id), so a trained DLRM reaches an AUC clearly above 0.5 and the
number means something. ``labels: random`` gives the reference's signal-free labels instead.
"""

from __future__ import annotations

from typing import Any, Callable, Literal

from pydantic import Field, PositiveInt

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


DEFAULT_TABLE_SIZES = [100_000] * 26  # --synthetic_dataset_table_sizes default (facts sheet 3.4)


@hookimpl
def register_datasets(register: Callable[[PluginSpec], None]) -> None:
    register(
        PluginSpec(
            kind="dataset",
            name="synthetic",
            summary="random batches generated on the device, labels from a fixed random teacher",
            factory="dlrmbench_plugins.datasets._synthetic_impl:SyntheticDataset",
            options=SyntheticOptions,
        )
    )


def resolve_table_sizes(options: SyntheticOptions, case: Any) -> list[int]:
    """Table sizes from the options, else the case's model, else the reference default."""
    if options.table_sizes:
        return list(options.table_sizes)
    model_sizes = getattr(getattr(case, "model", None), "table_sizes", None)
    return list(model_sizes) if model_sizes else list(DEFAULT_TABLE_SIZES)
