"""The ``sgd`` optimizer: plain SGD (no momentum, no weight decay), the reference's (facts sheet 2.2).

Tables get sparse gradients, which ``torch.optim.SGD`` applies as sparse row updates. The case's
``optimizer:`` schedule (warm-up, polynomial decay) sets the learning rate of every group each step.
"""

from __future__ import annotations

from typing import Callable

from dlrmbench import hookimpl
from dlrmbench.plugin_api import PluginOptions, PluginSpec


class SgdOptions(PluginOptions):
    """Plain SGD has no options (the learning rate and its schedule are the case's ``optimizer:`` fields)."""


@hookimpl
def register_optimizers(register: Callable[[PluginSpec], None]) -> None:
    register(PluginSpec(kind="optimizer", name="sgd", options=SgdOptions, state_bytes_per_parameter=0.0,
                        linear_in_gradient=True,
                        summary="plain SGD, sparse row updates for the tables, NVIDIA's warm-up + decay schedule",
                        factory="dlrmbench_plugins.optimizers._sgd:SgdPlugin"))
