"""The ``adagrad`` optimizer: what MLPerf DLRMv2 trains with (registration only; no torch here).

Dense layers: ``torch.optim.Adagrad``'s update; tables: exact row-sparse Adagrad (only the rows in the
batch, duplicates summed first, as FBGEMM's EXACT_ADAGRAD). eps 1e-8 (the reference's, dlrm_main.py@f41be00c, and
the MLPerf checker's value), initial accumulator 0, lr_decay 0, weight decay 0. The schedule is the case's
``optimizer:`` fields: MLPerf DLRMv2 uses none (``warmup_steps: 0, decay_start_step: 0, decay_steps: 0``).
State: one fp32 accumulator per weight (4 bytes a parameter), which doubles the embedding bytes.
Hybrid parallel: exact too (every group receives the global-batch mean gradient; see
:mod:`dlrmbench.distributed.exchange`), so multi-process cases run.
Implementation: :mod:`dlrmbench.model.adagrad`.
"""

from __future__ import annotations

from typing import Any, Callable

from pydantic import Field, PositiveFloat

from dlrmbench import hookimpl
from dlrmbench.plugin_api import PluginOptions, PluginSpec


class AdagradOptions(PluginOptions):
    """Adagrad's settings (the learning rate and its schedule are the case's ``optimizer:`` fields)."""

    eps: PositiveFloat = Field(default=1e-8, description="added to sqrt(accumulator) (MLPerf checker: 1e-8)")


def _check(host: Any, case: Any, options: AdagradOptions) -> str | None:
    if case is not None and case.mode == "train" and case.precision == "amp":
        return "adagrad does not run under precision amp (the static loss scale is folded into an SGD lr); use bf16"
    return None


@hookimpl
def register_optimizers(register: Callable[[PluginSpec], None]) -> None:
    register(PluginSpec(kind="optimizer", name="adagrad", options=AdagradOptions, state_bytes_per_parameter=4.0,
                        check=_check,
                        summary="Adagrad (MLPerf DLRMv2): torch Adagrad dense, exact row-sparse tables, eps 1e-8",
                        factory="dlrmbench_plugins.optimizers._adagrad:AdagradPlugin"))
