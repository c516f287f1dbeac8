"""Multi-hot ids through the TorchRec strategies, against the ``multi_table`` strategy (``embedding_bag``).

Both TorchRec strategies get :class:`SparseFeatures` as a ``KeyedJaggedTensor`` (jagged lengths,
empty bags included, or a fixed hotness) and sum-pool. The check is the whole training step of the
verify harness (the same seed gives every strategy the same initial weights): the logits before the
step and every parameter after one SGD step, and after one Adagrad step (the adagrad optimizer plugin
for ``torchrec`` and ``multi_table``; FBGEMM's fused EXACT_ADAGRAD inside backward for
``torchrec_fused``), within 1e-5 in float32. ``torchrec`` (plain ``EmbeddingBagCollection``) also runs
with float64 tables and MLPs, within 1e-6 of ``multi_table`` in float64: not closer, because
TorchRec 1.8's ``EmbeddingBagCollection.forward`` returns its pooled vectors as ``.float()``
(float32) whatever the tables' dtype (measured: 1.5e-8). FBGEMM's CPU kernel has no float64 tables.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

from dlrmbench.batch import SparseFeatures
from dlrmbench.config.schema import OptimizerConfig
from dlrmbench.host import current_host
from dlrmbench.plugins import get_registry
from dlrmbench_plugins.families.dlrm_verify import (
    Combination, VerifySettings, canonical_parameters, make_batches, make_case, relative_difference, run_combination,
)
from dlrmbench.workload.build import build_model
from dlrmbench.workload.build import resolve

SETTINGS = VerifySettings(steps=2, batch_size=24, table_sizes=(3, 13, 5, 2), lr=0.3, multi_hot_sizes=(4, 1, 3, 2))
TORCHREC = ["torchrec", "torchrec_fused"]


def jagged_batches(settings: VerifySettings) -> list[tuple[Any, Any, Any]]:
    """The verify batches with jagged ids instead: 0 to 4 ids per (feature, sample), empty bags included."""
    generator = torch.Generator().manual_seed(99)
    batches = []
    for numerical, _, label in make_batches(settings):
        lengths = torch.randint(0, 5, (len(settings.table_sizes) * settings.batch_size,), generator=generator)
        lengths[0] = 0  # at least one empty bag (pools to zeros)
        per_feature = lengths.view(len(settings.table_sizes), settings.batch_size).sum(1)
        values = torch.cat([torch.randint(0, rows, (int(n),), generator=generator)
                            for rows, n in zip(settings.table_sizes, per_feature)])
        categorical = SparseFeatures(values, settings.batch_size, len(settings.table_sizes), lengths=lengths)
        batches.append((numerical, categorical, label))
    return batches


LAYOUTS = {"fixed": lambda: make_batches(SETTINGS, multi_hot=True), "jagged": lambda: jagged_batches(SETTINGS)}


def require(strategy: str) -> None:
    reason = get_registry().get("embedding", strategy).availability(current_host())
    assert reason is None, f"{strategy} unavailable here: {reason} (make test installs the torchrec extra)"


def case_of(strategy: str, optimizer: str) -> Any:
    case = make_case(SETTINGS, Combination("eager", strategy, "dot"), {})
    if optimizer == "adagrad":
        case = case.model_copy(update={"optimizer": OptimizerConfig(
            name="adagrad", lr=0.05, warmup_steps=0, decay_start_step=0, decay_steps=0)})
    return case


def test_torchrec_strategies_declare_multi_hot() -> None:
    registry = get_registry()
    assert all(registry.get("embedding", name).multi_hot for name in TORCHREC)


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("optimizer", ["sgd", "adagrad"])
@pytest.mark.parametrize("strategy", TORCHREC)
def test_multi_hot_training_steps_equal_multi_table(strategy: str, optimizer: str, layout: str) -> None:
    require(strategy)
    batches = LAYOUTS[layout]()
    lr = SETTINGS.lr if optimizer == "sgd" else 0.05
    expected = run_combination(case_of("multi_table", optimizer), batches, lr)
    trace = run_combination(case_of(strategy, optimizer), batches, lr)
    assert relative_difference(trace.outputs, expected.outputs) < 1e-5
    assert relative_difference(trace.losses, expected.losses) < 1e-5
    assert set(trace.parameters) == set(expected.parameters)
    for name, value in expected.parameters.items():
        assert relative_difference(trace.parameters[name], value) < 1e-5, name
    # the update did happen, and it differs from the starting point by more than the tolerance
    start = canonical_parameters(build_model(resolve(case_of(strategy, optimizer)), list(SETTINGS.table_sizes)))
    assert relative_difference(trace.parameters["embeddings"], start["embeddings"]) > 1e-3


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_torchrec_multi_hot_forward_and_sgd_step_in_float64(layout: str) -> None:
    require("torchrec")
    numerical, categorical, label = LAYOUTS[layout]()[0]
    results = {}
    for strategy in ("multi_table", "torchrec"):
        model = build_model(resolve(case_of(strategy, "sgd")), list(SETTINGS.table_sizes)).double()
        logits = model(numerical.double(), categorical)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, label.double())
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                if p.grad is not None:
                    p.sub_(SETTINGS.lr * (p.grad.to_dense() if p.grad.is_sparse else p.grad))
        results[strategy] = (logits.detach(), canonical_parameters(model, torch.float64))
    (ref_logits, ref_params), (logits, params) = results["multi_table"], results["torchrec"]
    assert relative_difference(logits, ref_logits) < 1e-6
    for name, value in ref_params.items():
        assert relative_difference(params[name], value) < 1e-6, name


def test_empty_bags_pool_to_zero_and_fixed_hotness_equals_its_jagged_form() -> None:
    require("torchrec_fused")
    case = case_of("torchrec_fused", "sgd")
    emb = build_model(resolve(case), list(SETTINGS.table_sizes)).embeddings
    fixed = make_batches(SETTINGS, multi_hot=True)[0][1]
    jagged = SparseFeatures(fixed.values, fixed.batch_size, fixed.num_features, lengths=fixed.bag_lengths())
    with torch.no_grad():
        torch.testing.assert_close(emb(fixed), emb(jagged), rtol=0, atol=0)
        lengths = torch.tensor([0, 2] * 4)  # 4 features x 2 samples: sample 0 of every feature is empty
        out = emb(SparseFeatures(torch.tensor([0, 1, 0, 1, 0, 1, 0, 1]), 2, 4, lengths=lengths))
    assert out.shape == (2, 4, SETTINGS.embedding_dim)
    assert torch.count_nonzero(out[0]) == 0
    tables = canonical_parameters(build_model(resolve(case), list(SETTINGS.table_sizes)))["embeddings"]
    offsets = [0, 3, 16, 21]
    for f, offset in enumerate(offsets):
        torch.testing.assert_close(out[1, f], tables[offset] + tables[offset + 1])


def test_fused_strategy_refuses_other_optimizers_at_planning_naming_the_field_and_the_fix() -> None:
    require("torchrec_fused")
    spec = get_registry().get("embedding", "torchrec_fused")
    for supported in ("sgd", "adagrad"):
        case = case_of("torchrec_fused", "sgd").model_copy(update={"optimizer": OptimizerConfig(name=supported)})
        assert spec.availability(current_host(), case) is None
    case = case_of("torchrec_fused", "sgd").model_copy(update={"optimizer": OptimizerConfig(name="adam")})
    reason = spec.availability(current_host(), case)
    assert reason is not None
    assert "implements only sgd or adagrad" in reason
    assert "optimizer.name 'adam'" in reason and "set optimizer.name to sgd or adagrad" in reason
    in_backward = get_registry().get("embedding", "joint_sgd_in_backward")
    adagrad = case.model_copy(update={"optimizer": OptimizerConfig(name="adagrad")})
    assert "implements only sgd;" in in_backward.availability(current_host(), adagrad)
