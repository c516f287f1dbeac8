"""The optimizer-in-backward embedding strategies (registration only; no torch here).

``joint_sgd_in_backward`` applies plain SGD to the touched rows inside the embedding backward;
``joint_adagrad_in_backward`` applies exact Adagrad (FBGEMM's ``EXACT_ADAGRAD``: each distinct row's
gradients summed, then one accumulator and weight update per row). Neither builds a sparse gradient
tensor nor leaves a ``.grad`` for the optimizer plugin. Implementation: ``_in_backward``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Literal

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
