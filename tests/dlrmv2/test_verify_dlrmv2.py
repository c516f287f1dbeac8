"""``verify`` checks dcnv2 as DLRMv2 trains: multi-hot ids, Adagrad, against a float64 computation."""

from __future__ import annotations

import json

import pytest
import torch

from dlrmbench_plugins.families import dlrm_verify as verify_module
from dlrmbench.model import adagrad
from dlrmbench_plugins.families.dlrm_verify import Combination, VerifyReport, VerifySettings, make_batches, verify

# every multi-hot strategy (joint_fused: Triton, interpreted; torchrec_fused: FBGEMM's fused EXACT_ADAGRAD)
EMBEDDINGS = ["multi_table", "joint", "joint_fused", "torchrec", "torchrec_fused",
              "joint_adagrad_in_backward"]
CHECKED = [Combination("eager", e, "dcnv2") for e in EMBEDDINGS] + [Combination("cuda_fused", "joint_fused", "dcnv2")]
ONE_HOT_ONLY = Combination("eager", "joint_sparse", "dcnv2")
SGD_IN_BACKWARD = Combination("eager", "joint_sgd_in_backward", "dcnv2")


@pytest.fixture(scope="module")
def report() -> VerifyReport:
    return verify(VerifySettings(steps=2), only=[*CHECKED, ONE_HOT_ONLY, SGD_IN_BACKWARD])


def check_of(report: VerifyReport, combo: Combination):
    return next(c for c in report.checks if c.combination == combo)


@pytest.mark.parametrize("combo", CHECKED, ids=lambda c: f"{c.backend}-{c.embedding}")
def test_multi_hot_adagrad_matches_float64(report: VerifyReport, combo: Combination) -> None:
    check = check_of(report, combo)
    assert check.status == "pass", check
    assert max(check.outputs, check.losses, check.parameters) <= 1e-5


def test_a_one_hot_strategy_is_unavailable_with_its_reason(report: VerifyReport) -> None:
    check = check_of(report, ONE_HOT_ONLY)
    assert check.status == "unavailable" and "multi-hot is not supported" in check.reason


def test_a_strategy_with_its_own_sgd_says_it_cannot_apply_adagrad(report: VerifyReport) -> None:
    check = check_of(report, SGD_IN_BACKWARD)
    assert check.status == "unavailable"
    assert "implements only sgd; optimizer.name 'adagrad' cannot drive it" in check.reason


def test_the_batches_are_multi_hot_with_repeated_rows() -> None:
    settings = VerifySettings(steps=1)
    categorical = make_batches(settings, multi_hot=True)[0][1]
    assert categorical.hotness == settings.multi_hot_sizes
    ids, _ = categorical.feature(2)  # 4 ids a sample from a 5-row table: rows repeat
    assert ids.unique().numel() < ids.numel()


def test_a_non_exact_sparse_adagrad_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """Updating a row once per occurrence (duplicates not summed first) must not pass as exact Adagrad."""
    exact = adagrad.exact_adagrad_rows_

    def per_occurrence(weight, state_sum, grad, lr, eps=adagrad.ADAGRAD_EPS):  # type: ignore[no-untyped-def]
        if not grad.is_sparse:
            return exact(weight, state_sum, grad, lr, eps)
        rows, values = grad._indices()[0], grad._values()
        for row, value in zip(rows.tolist(), values):
            one = torch.sparse_coo_tensor([[row]], value.unsqueeze(0), weight.shape, check_invariants=True)
            exact(weight, state_sum, one, lr, eps)

    monkeypatch.setattr(adagrad, "exact_adagrad_rows_", per_occurrence)
    result = verify(VerifySettings(steps=1), only=[Combination("eager", "joint", "dcnv2")])
    check = result.checks[0]
    assert check.status == "fail" and check.worst_parameter == "embeddings", check


def test_json_names_each_check_reference() -> None:
    from dlrmbench_plugins.families.dlrm_verify import to_json

    settings = VerifySettings(steps=1)
    fake = VerifyReport(settings, [verify_module.Check(Combination("eager", "joint", "dcnv2"), "pass", 0, 0, 0),
                                   verify_module.Check(Combination("eager", "joint", "dot"), "pass", 0, 0, 0)])
    checks = json.loads(to_json(fake))["checks"]
    assert [c["reference"] for c in checks] == ["float64", "eager+multi_table"]
    bf16 = VerifyReport(VerifySettings(steps=1, precision="bf16"), fake.checks)
    assert json.loads(to_json(bf16))["checks"][0]["reference"] == "eager+multi_table"
