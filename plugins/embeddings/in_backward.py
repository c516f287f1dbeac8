"""The ``joint_sgd_in_backward`` embedding strategy (registration only; no torch here)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Literal

from dlrmbench import hookimpl
from dlrmbench.plugin_api import PluginOptions, PluginSpec
from dlrmbench_plugins.embeddings.torchrec import in_backward_reason

if TYPE_CHECKING:
    from dlrmbench.config.schema import Case
    from dlrmbench.host import Host


class InBackwardOptions(PluginOptions):
    """Options of ``joint_sgd_in_backward``."""

    gather: Literal["index_select", "embedding_bag"] = "index_select"
    """How rows are read: one ``index_select``, or one ``embedding_bag`` (sum, one id per bag)."""


def _reason(host: "Host", case: "Case | None", options: Any) -> str | None:
    return in_backward_reason(case, ("sgd",))


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
        )
    )
