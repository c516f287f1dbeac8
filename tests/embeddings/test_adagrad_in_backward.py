"""``joint_adagrad_in_backward``: exact Adagrad applied inside the embedding backward (FBGEMM's
EXACT_ADAGRAD), against dlrmbench's own row-sparse Adagrad and against a float64 computation."""

from __future__ import annotations

import pytest
import torch

from dlrmbench.config.schema import OptimizerConfig
from dlrmbench.model.adagrad import ADAGRAD_EPS, exact_adagrad_ids_
from dlrmbench.workload.build import resolve
from dlrmbench_plugins.families.dlrm_verify import (
    Combination, VerifySettings, make_batches, make_case, relative_difference, run_combination, run_float64_reference,
)

SETTINGS = VerifySettings(steps=3)
STRATEGY = "joint_adagrad_in_backward"


def _adagrad_case(embedding: str, interaction: str):
    case = make_case(SETTINGS, Combination("eager", embedding, interaction), {})
    if case.optimizer.name != "adagrad":  # dot/cat rows of verify train with SGD: Adagrad here as well
        case = case.model_copy(update={"optimizer": OptimizerConfig(
            name="adagrad", lr=SETTINGS.adagrad_lr, warmup_steps=0, decay_start_step=0, decay_steps=0)})
    return case


def _worst(trace, reference) -> float:
    diffs = [relative_difference(trace.outputs, reference.outputs), relative_difference(trace.losses, reference.losses)]
    diffs += [relative_difference(v, reference.parameters[k]) for k, v in trace.parameters.items()]
    return max(diffs)


@pytest.mark.parametrize("interaction, multi_hot", [("dcnv2", True), ("dot", False)], ids=["multi-hot", "one-hot"])
def test_matches_the_row_sparse_adagrad_path_and_the_float64_reference(interaction, multi_hot):
    batches = make_batches(SETTINGS, multi_hot=multi_hot)
    ids = batches[0][1].values if multi_hot else batches[0][1]
    assert ids.unique().numel() < ids.numel()  # rows repeat: the exact update must sum them first
    in_backward = run_combination(_adagrad_case(STRATEGY, interaction), batches, SETTINGS.adagrad_lr)
    existing = run_combination(_adagrad_case("joint", interaction), batches, SETTINGS.adagrad_lr)
    assert _worst(in_backward, existing) <= 1e-6
    reference = run_float64_reference(_adagrad_case(STRATEGY, interaction), batches, SETTINGS.adagrad_lr,
                                      ADAGRAD_EPS)
    assert _worst(in_backward, reference) <= 1e-5
    # the tables moved: a strategy that never updated would be far from both
    from dlrmbench_plugins.families.dlrm_verify import canonical_parameters
    from dlrmbench.workload.build import build_model

    start = canonical_parameters(build_model(resolve(_adagrad_case(STRATEGY, interaction)), list(SETTINGS.table_sizes)))
    assert relative_difference(start["embeddings"], reference.parameters["embeddings"]) > 1e-3


def test_duplicates_are_summed_before_the_accumulator_update():
    weight = torch.zeros(6, 2)
    state = torch.zeros(6, 2)
    rows = torch.tensor([2, 5, 2])
    values = torch.tensor([[1.0, -2.0], [3.0, 0.5], [0.5, 1.0]])
    exact_adagrad_ids_(weight, state, rows, values, lr=0.1, eps=1e-8)
    g2 = torch.tensor([1.5, -1.0])  # row 2: 1 + 0.5, -2 + 1
    assert torch.equal(state[2], g2 * g2) and torch.equal(state[5], values[1] * values[1])
    assert torch.allclose(weight[2], -0.1 * g2 / (g2.abs() + 1e-8))
    assert torch.count_nonzero(weight[[0, 1, 3, 4]]) == 0 and torch.count_nonzero(state[[0, 1, 3, 4]]) == 0


@pytest.mark.parametrize("multi_hot", [True, False], ids=["multi-hot", "one-hot"])
def test_no_sparse_gradient_tensor_and_no_grad_are_made(monkeypatch, multi_hot):
    from dlrmbench.workload.build import build_model

    case = _adagrad_case(STRATEGY, "dcnv2" if multi_hot else "dot")
    model = build_model(resolve(case), list(SETTINGS.table_sizes))
    model.embeddings.set_learning_rate(0.01)
    numerical, categorical, label = make_batches(SETTINGS, multi_hot=multi_hot)[0]
    before = model.embeddings.weight.detach().clone()

    def refuse(*args, **kwargs):
        raise AssertionError("a sparse COO tensor was built")

    monkeypatch.setattr(torch, "sparse_coo_tensor", refuse)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(model(numerical, categorical), label)
    loss.backward()
    assert model.embeddings.weight.grad is None
    assert not torch.equal(model.embeddings.weight, before)
    assert model.embeddings.optimizer_state_bytes() == model.embeddings.weight.numel() * 4
    assert torch.count_nonzero(model.embeddings.state_sum) > 0


def test_a_case_without_adagrad_is_skipped_naming_the_fix():
    from dlrmbench.host import current_host
    from dlrmbench.plugins import get_registry
    from dlrmbench.runner.plan import plan

    case = make_case(SETTINGS, Combination("eager", STRATEGY, "dot"), {})  # SGD
    (planned,) = plan([case], current_host(), get_registry())
    assert planned.skip_reason == (
        f"embedding {STRATEGY}: applies its own optimizer inside backward and implements only adagrad; "
        "optimizer.name 'sgd' cannot drive it: set optimizer.name to adagrad, or use an embedding strategy whose "
        "tables the optimizer plugin updates (torchrec, multi_table, joint)")
    (planned,) = plan([_adagrad_case(STRATEGY, "dcnv2")], current_host(), get_registry())
    assert planned.runnable


def test_sgd_in_backward_takes_multi_hot_bags_like_joint():
    """``joint_sgd_in_backward`` pools multi-hot bags and applies SGD to every looked-up row (duplicates
    included) inside backward: the same outputs, losses and parameters as ``joint`` with the SGD plugin."""
    from dlrmbench.plugins import get_registry

    assert get_registry().get("embedding", "joint_sgd_in_backward").multi_hot
    batches = make_batches(SETTINGS, multi_hot=True)
    assert batches[0][1].values.unique().numel() < batches[0][1].values.numel()

    def sgd_case(embedding: str):
        case = make_case(SETTINGS, Combination("eager", embedding, "dcnv2"), {})
        return case.model_copy(update={"optimizer": OptimizerConfig(
            name="sgd", lr=SETTINGS.lr, warmup_steps=0, decay_start_step=0, decay_steps=0)})

    in_backward = run_combination(sgd_case("joint_sgd_in_backward"), batches, SETTINGS.lr)
    joint = run_combination(sgd_case("joint"), batches, SETTINGS.lr)
    assert _worst(in_backward, joint) <= 1e-6
    from dlrmbench_plugins.families.dlrm_verify import canonical_parameters
    from dlrmbench.workload.build import build_model

    start = canonical_parameters(build_model(resolve(sgd_case("joint")), list(SETTINGS.table_sizes)))
    assert relative_difference(start["embeddings"], joint.parameters["embeddings"]) > 1e-3
