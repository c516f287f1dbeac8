"""The ``torchrec`` and ``torchrec_fused`` embedding strategies (registration only: no torch, no torchrec).

Install their dependencies with ``make torchrec`` (torchrec and fbgemm-gpu(-cpu) at versions known to
work with the pinned torch, installed with --no-deps so that pip never re-resolves torch).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from dlrmbench import hookimpl
from dlrmbench.plugin_api import PluginOptions, PluginSpec
from dlrmbench_plugins.embeddings._torchrec_compat import installed_fbgemm, installed_version, torchrec_reason

if TYPE_CHECKING:
    from dlrmbench.config.schema import Case
    from dlrmbench.host import Host


class NoOptions(PluginOptions):
    """This strategy has no options."""


FUSED_OPTIMIZERS = ("sgd", "adagrad")
"""Optimizers ``torchrec_fused`` applies inside FBGEMM's backward: EXACT_SGD and EXACT_ADAGRAD."""


def in_backward_reason(case: "Case | None", supported: tuple[str, ...] = ("sgd",),
                       hybrid_parallel: bool = False) -> str | None:
    """Why a case cannot drive a strategy that applies its optimizer inside backward, or None.

    ``supported``: the ``optimizer.name`` values the strategy implements itself; any other is refused at
    planning (the strategy never hands its tables to the optimizer plugin, so it cannot fall back on it).
    ``hybrid_parallel``: a multi-process parity test covers the strategy (both topologies).
    """
    if case is None:
        return None
    optimizer = getattr(case.optimizer, "name", "sgd")
    if optimizer not in supported:
        names = " or ".join(supported)
        return (f"applies its own optimizer inside backward and implements only {names}; optimizer.name "
                f"{optimizer!r} cannot drive it: set optimizer.name to {names}, or use an embedding strategy "
                f"whose tables the optimizer plugin updates (torchrec, multi_table, joint)")
    if case.world_size > 1 and not hybrid_parallel:
        return ("applies its optimizer inside backward, which no hybrid-parallel test covers yet (the all-to-all's "
                "backward does hand it the global-mean gradient at the case's lr); run it on one process")
    if case.precision == "amp" and case.optimizer.amp_scaler == "dynamic":
        return ("applies its optimizer inside backward, before a dynamic GradScaler could unscale; use "
                "optimizer.amp_scaler: static")
    return None


def _fused_reason(host: "Host", case: "Case | None", options: Any) -> str | None:
    return torchrec_reason(host, case, options) or in_backward_reason(case, FUSED_OPTIMIZERS, hybrid_parallel=True)


def _impl(name: str) -> str:
    return f"dlrmbench_plugins.embeddings._torchrec_impl:{name}"


@hookimpl
def register_embeddings(register: Callable[[PluginSpec], None]) -> None:
    register(
        PluginSpec(
            kind="embedding",
            name="torchrec",
            summary="torchrec.EmbeddingBagCollection, one table per feature, sum pooling; dense table gradients",
            factory=_impl("build_torchrec"),
            options=NoOptions,
            check=torchrec_reason,
            multi_hot=True,
        )
    )
    register(
        PluginSpec(
            kind="embedding",
            name="torchrec_fused",
            summary="TorchRec FusedEmbeddingBagCollection (FBGEMM TBE), exact SGD or Adagrad fused into backward",
            factory=_impl("build_torchrec_fused"),
            options=NoOptions,
            check=_fused_reason,
            multi_hot=True,
        )
    )


@hookimpl
def environment_info() -> dict[str, Any]:
    """The TorchRec stack's versions, recorded with every result (None when not installed)."""
    fbgemm = installed_fbgemm()
    return {"torchrec": {"torchrec": installed_version("torchrec"),
                         "fbgemm": f"{fbgemm[0]} {fbgemm[1]}" if fbgemm else None}}
