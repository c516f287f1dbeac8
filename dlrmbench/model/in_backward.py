"""Embedding strategies that apply the optimizer inside their backward, and how a loop drives them.

A strategy that updates its rows during ``backward`` (as FBGEMM's table-batched embeddings do) leaves
no gradient on its tables, so the harness's optimizer skips them; it needs the learning rate of the
step *before* backward runs. A training loop therefore calls :func:`set_learning_rate` with the
step's rate wherever it sets the optimizer's, and optimizers with state (Adagrad) are named by
:func:`optimizer_name` so a strategy can refuse the ones it does not implement.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from torch import nn


@runtime_checkable
class AppliesOptimizerInBackward(Protocol):
    """A module that updates its own parameters in backward with the rate given before each step."""

    applies_optimizer_in_backward: bool

    def set_learning_rate(self, lr: float) -> None: ...


def in_backward_modules(model: nn.Module) -> list[AppliesOptimizerInBackward]:
    """The modules of ``model`` that apply their optimizer in backward."""
    return [m for m in model.modules()
            if isinstance(m, AppliesOptimizerInBackward) and getattr(m, "applies_optimizer_in_backward", False)]


def set_learning_rate(model: nn.Module, lr: float) -> None:
    """Give every in-backward module of ``model`` the learning rate of the coming step."""
    for module in in_backward_modules(model):
        module.set_learning_rate(lr)
