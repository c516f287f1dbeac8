"""Backend plugins: capability checks (reasons a user reads) and apex's MLP wrapper."""

from __future__ import annotations

import sys
import types

import pytest
import torch

from dlrmbench.config.schema import Case, ModelConfig
from dlrmbench.host import Gpu, Host
from dlrmbench.plugins import get_registry
from dlrmbench_plugins.backends import apex_mlp, compiled

CPU_HOST = Host(gpus=(), cpu_count=2)
GPU_HOST = Host(gpus=(Gpu(0, "NVIDIA H100", 80 * 2**30, (9, 0)),), cpu_count=16)


def case(device: str = "cpu", **model: object) -> Case:
    return Case(name="c", device=device, model=ModelConfig(**model))  # type: ignore[arg-type]


def reason(name: str, host: Host, c: Case | None, **options: object) -> str | None:
    spec = get_registry().get("backend", name)
    return spec.availability(host, c, spec.options.model_validate(options))


def test_apex_missing_reason_is_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(apex_mlp, "nvidia_apex_installed", lambda: False)
    expected = "NVIDIA apex is not installed (build it from source; the PyPI package named apex is unrelated)"
    assert reason("apex_mlp", GPU_HOST, case("cuda")) == expected
    assert reason("apex_mlp", CPU_HOST, None) == expected


def test_unrelated_pypi_apex_is_not_nvidia_apex(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "apex").mkdir()
    (tmp_path / "apex" / "__init__.py").write_text("")  # the PyPI 'apex' has no mlp subpackage
    monkeypatch.syspath_prepend(str(tmp_path))
    assert not apex_mlp.nvidia_apex_installed()
    (tmp_path / "apex" / "mlp").mkdir()
    assert apex_mlp.nvidia_apex_installed()


def test_apex_needs_a_gpu_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(apex_mlp, "nvidia_apex_installed", lambda: True)
    assert reason("apex_mlp", CPU_HOST, case("cpu")) == "apex's fused MLP runs only on CUDA GPUs"
    assert reason("apex_mlp", GPU_HOST, case("cuda")) is None


def test_cuda_fused_on_the_cpu_needs_the_interpreter_option(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    assert "need a CUDA GPU; on the CPU set options: {interpret: true}" in reason("cuda_fused", CPU_HOST, case())
    assert reason("cuda_fused", CPU_HOST, case(), interpret=True) is None
    assert reason("cuda_fused", GPU_HOST, case("cuda")) is None
    assert "needs a CUDA GPU; none found" in reason("cuda_fused", CPU_HOST, case("cuda"))


def test_cuda_fused_declares_its_dot_limits() -> None:
    wide = case("cuda", bottom_mlp=[1024], embedding_dim=1024)
    assert reason("cuda_fused", GPU_HOST, wide) == "its Triton dot interaction handles embedding_dim <= 512, not 1024"
    many = case("cuda", table_sizes=[2] * 130)
    assert "up to 127 categorical features, not 130" in reason("cuda_fused", GPU_HOST, many)
    assert reason("cuda_fused", GPU_HOST, case("cuda", table_sizes=[2] * 130, interaction="cat")) is None


def test_joint_fused_has_no_shape_limit() -> None:
    spec = get_registry().get("embedding", "joint_fused")
    odd = case("cuda", bottom_mlp=[200], embedding_dim=200, table_sizes=[3] * 40)
    assert spec.availability(GPU_HOST, odd) is None


def test_compiled_says_why_without_a_compiler(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXX", "/nonexistent/g++")
    assert "inductor needs a C++ compiler" in reason("compiled", CPU_HOST, case())
    assert reason("compiled", CPU_HOST, case(), compiler="aot_eager") is None


def _fake_apex(monkeypatch: pytest.MonkeyPatch) -> None:
    """An apex whose MlpFunction computes what mlp_cuda does: relu(x W_i^T + b_i) per layer."""

    class MlpFunction:
        @staticmethod
        def apply(bias: int, activation: int, x: torch.Tensor, *params: torch.Tensor) -> torch.Tensor:
            half = len(params) // 2
            for w, b in zip(params[:half], params[half:]):
                x = torch.relu(x @ w.t() + b)
            return x

    mlp_module = types.ModuleType("apex.mlp.mlp")
    mlp_module.MlpFunction = MlpFunction  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "apex", types.ModuleType("apex"))
    monkeypatch.setitem(sys.modules, "apex.mlp", types.ModuleType("apex.mlp"))
    monkeypatch.setitem(sys.modules, "apex.mlp.mlp", mlp_module)


def test_apex_mlp_starts_from_the_eager_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_apex(monkeypatch)
    from dlrmbench.model.dlrm import build_dlrm
    from dlrmbench_plugins.backends._apex_mlp import ApexMlpBackend
    from dlrmbench_plugins.backends.eager import EagerBackend
    from dlrmbench_plugins.embeddings._tables import MultiTableEmbedding

    def build(backend: object) -> torch.nn.Module:
        return build_dlrm(backend, MultiTableEmbedding([4, 6], 8), num_numerical=13, bottom_sizes=[16, 8],
                          top_sizes=[16, 8, 1], interaction="dot", seed=5)

    eager, apex = build(EagerBackend()), build(ApexMlpBackend())
    eager_params, apex_params = list(eager.parameters()), list(apex.parameters())
    assert [p.shape for p in apex_params] == [p.shape for p in eager_params]
    assert all(torch.equal(a, e) for a, e in zip(apex_params, eager_params))
    assert torch.count_nonzero(apex.top_mlp.layers[0].weight[:, -1]) == 0  # the padding column
    numerical, categorical = torch.randn(3, 13), torch.tensor([[0, 5], [3, 1], [2, 2]])
    assert torch.allclose(apex(numerical, categorical), eager(numerical, categorical), atol=1e-6)
