"""The optimizer-in-backward embedding strategies (registration only; no torch here).

``joint_sgd_in_backward`` applies plain SGD to the touched rows inside the embedding backward;
``joint_adagrad_in_backward`` applies exact Adagrad (FBGEMM's ``EXACT_ADAGRAD``: each distinct row's
gradients summed, then one accumulator and weight update per row). Neither builds a sparse gradient
tensor nor leaves a ``.grad`` for the optimizer plugin. Implementation: ``_in_backward``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Literal

from pydantic import model_validator

from dlrmbench import hookimpl
from dlrmbench.plugin_api import PluginOptions, PluginSpec
from dlrmbench_plugins.embeddings.torchrec import in_backward_reason

if TYPE_CHECKING:
    from dlrmbench.config.schema import Case
    from dlrmbench.host import Host


class InBackwardOptions(PluginOptions):
    """Options of ``joint_sgd_in_backward`` and ``joint_adagrad_in_backward``."""

    gather: Literal["index_select", "embedding_bag"] = "index_select"
    """How rows are read (one id per feature): one ``index_select``, or one ``embedding_bag`` (sum, one id per bag)."""
    row_update: Literal["auto", "fused", "scatter"] = "auto"
    """How backward updates the touched rows: ``fused`` (ids sorted, each row's gradients summed, each row written
    once in the table's dtype; multi-hot bags' gradients never expanded per id) or ``scatter`` (the path before
    it: every lookup's gradient row added on its own; float32 tables only). ``auto``: scatter for one-hot SGD on
    a float32 table (few duplicates: summing them first only adds a pass over the gradient, and measured slower
    on the CPU), fused everywhere else."""
    table_dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    """The tables' storage dtype. A bfloat16/float16 table halves the table's bytes; lookups come out in the
    step's compute dtype (no cast under autocast of the same dtype); updates are computed in float32 and
    rounded once per row. Adagrad's accumulator stays float32."""
    rounding: Literal["stochastic", "nearest"] = "stochastic"
    """How a low-precision table's updated rows are rounded: ``stochastic`` (FBGEMM's: unbiased, so updates
    smaller than half a unit in the last place still move the weights on average) or ``nearest``."""

    @model_validator(mode="after")
    def _scatter_needs_float32(self) -> "InBackwardOptions":
        if self.row_update == "scatter" and self.table_dtype != "float32":
            raise ValueError(f"row_update: scatter adds every lookup's gradient on its own and needs float32 tables; "
                             f"table_dtype {self.table_dtype!r} needs row_update: fused")
        return self


def _reason(host: "Host", case: "Case | None", options: Any) -> str | None:
    return in_backward_reason(case, ("sgd",))


def _adagrad_reason(host: "Host", case: "Case | None", options: Any) -> str | None:
    return in_backward_reason(case, ("adagrad",))


@hookimpl
def register_embeddings(register: Callable[[PluginSpec], None]) -> None:
    register(
        PluginSpec(
            kind="embedding",
            name="joint_sgd_in_backward",
            summary="one table; SGD applied to the touched rows inside backward (no sparse gradient tensor)",
            factory="dlrmbench_plugins.embeddings._in_backward:build_joint_sgd_in_backward",
            options=InBackwardOptions,
            check=_reason,
            multi_hot=True,
        )
    )
    register(
        PluginSpec(
            kind="embedding",
            name="joint_adagrad_in_backward",
            summary="one table; exact Adagrad (duplicates summed) applied to the touched rows inside backward",
            factory="dlrmbench_plugins.embeddings._in_backward:build_joint_adagrad_in_backward",
            options=InBackwardOptions,
            check=_adagrad_reason,
            multi_hot=True,
        )
    )
