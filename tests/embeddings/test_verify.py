"""``verify``: every combination computes what eager + multi_table computes, and a wrong one fails."""

from __future__ import annotations

import sys
import types

import pytest
import torch
from click.testing import CliRunner

from dlrmbench import hookimpl, plugins
from dlrmbench_plugins.families import dlrm_verify as verify_module
from dlrmbench.cli import make_cli
from dlrmbench.plugin_api import PluginSpec
from dlrmbench_plugins.families.dlrm_verify import Combination, VerifyReport, VerifySettings, relative_difference, verify

BACKENDS = ["eager", "cuda_fused", "compiled", "apex_mlp"]
EMBEDDINGS = ["multi_table", "joint", "joint_sparse", "joint_fused", "joint_sgd_in_backward", "torchrec", "torchrec_fused"]
ALL = [Combination(b, e, i) for i in ("dot", "cat") for b in BACKENDS for e in EMBEDDINGS]
AMP = [Combination(b, e, "dot") for b in ("eager", "cuda_fused") for e in ("multi_table", "joint_fused")]


@pytest.fixture(scope="module")
def fp32_report() -> VerifyReport:
    return verify(VerifySettings(precision="fp32", steps=2), only=ALL)


@pytest.fixture(scope="module")
def amp_report() -> VerifyReport:
    return verify(VerifySettings(precision="amp", steps=2), only=AMP)


def check_of(report: VerifyReport, combo: Combination):
    matches = [c for c in report.checks if c.combination == combo]
    assert len(matches) == 1, f"{combo.label} missing from the report"
    return matches[0]


@pytest.mark.parametrize("combo", ALL, ids=lambda c: f"{c.backend}-{c.embedding}-{c.interaction}")
def test_fp32_matches_reference(fp32_report: VerifyReport, combo: Combination) -> None:
    check = check_of(fp32_report, combo)
    if combo.backend == "apex_mlp" and check.status == "unavailable":  # apex is not installed here
        assert "NVIDIA apex is not installed" in check.reason
        return
    assert check.status == "pass", check
    assert max(check.outputs, check.losses, check.parameters) <= 1e-5


@pytest.mark.parametrize("combo", AMP, ids=lambda c: f"{c.backend}-{c.embedding}-{c.interaction}")
def test_amp_matches_reference(amp_report: VerifyReport, combo: Combination) -> None:
    check = check_of(amp_report, combo)
    assert check.status == "pass", check
    assert max(check.outputs, check.losses, check.parameters) <= 1e-2


def test_relative_difference() -> None:
    assert relative_difference(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 4.0])) == 0.5
    assert relative_difference(torch.zeros(2), torch.zeros(2)) == 0.0


class _WrongEmbeddingPlugin:
    """Registers 'scaled', a multi_table whose vectors are 0.1 % too long: verify must catch it."""

    @hookimpl
    def register_embeddings(self, register) -> None:  # type: ignore[no-untyped-def]
        register(PluginSpec(kind="embedding", name="scaled", summary="wrong on purpose",
                            factory="dlrmbench_test_wrong_embedding:ScaledEmbedding"))


@pytest.fixture
def wrong_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    from dlrmbench_plugins.embeddings._tables import MultiTableEmbedding

    class ScaledEmbedding(MultiTableEmbedding):
        def forward(self, categorical: torch.Tensor) -> torch.Tensor:
            return super().forward(categorical) * 1.001

    module = types.ModuleType("dlrmbench_test_wrong_embedding")
    module.ScaledEmbedding = lambda ctx: ScaledEmbedding(list(ctx.table_sizes), ctx.embedding_dim)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setattr(plugins, "_cached", plugins.make_manager(extra_plugins=[_WrongEmbeddingPlugin()]))
    monkeypatch.setattr(verify_module, "combinations", lambda registry: [
        Combination("eager", "multi_table", "dot"), Combination("eager", "scaled", "dot"),
        Combination("apex_mlp", "multi_table", "dot")])


def test_a_wrong_implementation_fails_and_the_command_exits_non_zero(wrong_plugin: None) -> None:
    result = CliRunner().invoke(make_cli(), ["verify", "--steps", "1"], terminal_width=200)
    assert result.exit_code == 1, result.output
    assert "FAIL" in result.output and "1 of 2 checked combinations failed" in result.output
    report = verify(VerifySettings(steps=1), only=[Combination("eager", "scaled", "dot")])
    assert report.checks[0].status == "fail" and report.checks[0].outputs > 1e-5


def test_bad_arguments_are_usage_errors() -> None:
    result = CliRunner().invoke(make_cli(), ["verify", "--steps", "0"])
    assert result.exit_code == 2 and "--steps" in result.output
    result = CliRunner().invoke(make_cli(), ["verify", "--precision", "fp8"])
    assert result.exit_code == 2 and "fp8" in result.output
