"""``suites/implementations.yaml``: every backend x strategy at NVIDIA's shape, TorchRec included."""

from __future__ import annotations

from pathlib import Path

from dlrmbench.config.loader import load_suite
from dlrmbench.config.variants import scale_down
from dlrmbench.host import Host
from dlrmbench.plugins import get_registry
from dlrmbench.runner.plan import plan

REPO = Path(__file__).resolve().parents[2]
NO_GPU = Host(cpu_count=2, gpu_probe_error="NVML unavailable")


def test_every_registered_backend_and_strategy_is_compared_at_the_nvidia_shape() -> None:
    cases = [c for c in load_suite(REPO / "suites/implementations.yaml").cases if c.name.startswith("train")]
    registry = get_registry()
    pairs = {(c.backend.name, c.embedding.name) for c in cases}
    builtin = lambda kind: {n for n in registry.names(kind) if registry.get(kind, n).source.startswith("dlrmbench ")}  # noqa: E731
    assert pairs == {(b, e) for b in builtin("backend") for e in builtin("embedding")}
    for case in cases:
        assert case.model.table_sizes == [100_000] * 26 and case.model.embedding_dim == 128
        assert case.batch_size == 2048 and case.precision == "fp32" and case.world_size == 1
        assert case.model.bottom_mlp == [512, 256, 128] and case.model.top_mlp == [1024, 1024, 512, 256, 1]


def test_scaled_down_on_the_cpu_torchrec_and_eager_run_and_gpu_only_backends_say_why_not(monkeypatch) -> None:
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)  # other test packages set it; a user's shell does not
    cases = [scale_down(c, NO_GPU) for c in load_suite(REPO / "suites/implementations.yaml").cases]
    planned = {(p.case.backend.name, p.case.embedding.name): p.skip_reason for p in plan(cases, NO_GPU, get_registry())}
    for embedding in ("multi_table", "joint", "joint_sparse", "joint_sgd_in_backward", "torchrec", "torchrec_fused"):
        assert planned[("eager", embedding)] is None
    assert "Triton" in planned[("cuda_fused", "joint")]
    assert "apex" in planned[("apex_mlp", "torchrec")]


def test_the_two_hybrid_parallel_topologies_run_the_same_case_side_by_side() -> None:
    hybrid = [c for c in load_suite(REPO / "suites/implementations.yaml").cases if c.name.startswith("hybrid")]
    assert sorted(c.distributed.topology for c in hybrid) == ["dlrmbench", "torchrec_dmp"]
    a, b = (c.model_dump(exclude={"name", "distributed"}) for c in hybrid)
    assert a == b  # nothing else differs
    assert hybrid[0].world_size == 2 and hybrid[0].embedding.name == "torchrec_fused"
    assert hybrid[0].model.table_sizes == [100_000] * 26 and hybrid[0].batch_size == 2048
    cases = [scale_down(c, NO_GPU) for c in hybrid]
    assert all(p.skip_reason is None for p in plan(cases, NO_GPU, get_registry()))
