"""A plugin whose factory returns something missing a method the core calls is refused when it is built,
by name (not by an AttributeError deep in a training step)."""

from __future__ import annotations

import pytest

from dlrmbench.errors import UserError
from dlrmbench.workload.build import PROTOCOLS, checked


class HalfStrategy:
    """An embedding strategy that forgot its memory accounting and its learning-rate hook."""

    table_sizes = [3, 4]
    dim = 8
    num_features = 2
    applies_own_optimizer = False

    def __call__(self, ids):
        return ids

    def reset_parameters(self, generator=None):
        pass


def test_a_strategy_missing_methods_is_refused_naming_them() -> None:
    with pytest.raises(UserError) as caught:
        checked("embedding", "half", HalfStrategy())
    message = str(caught.value)
    assert message.startswith("embedding half: its factory returned a HalfStrategy without ")
    for method in ("optimizer_state_bytes", "parameter_bytes", "set_learning_rate"):
        assert method in message
    assert "dlrmbench.plugin_api.EmbeddingStrategy" in message


def test_every_kind_has_a_protocol_and_a_complete_object_passes() -> None:
    from dlrmbench.plugin_api import KINDS

    assert set(PROTOCOLS) == set(KINDS)

    class Family:
        def build_model(self, ctx, build): ...
        def model_inputs(self, batch): ...
        def target(self, batch): ...
        def loss(self, outputs, target): ...
        def eval_rows(self, outputs, target): ...
        def metrics(self, rows): ...
        def check_batch(self, batch, table_sizes): ...

    family = Family()
    assert checked("family", "complete", family) is family
    del Family.metrics
    with pytest.raises(UserError, match="without metrics"):
        checked("family", "incomplete", family)
