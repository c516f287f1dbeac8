"""``suites/implementations.yaml``: every backend x strategy at NVIDIA's shape, TorchRec included."""

from __future__ import annotations

from pathlib import Path

import pytest

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
    cases = [scale_down(c, NO_GPU) for c in load_suite(REPO / "suites/implementations.yaml").cases if c.mode == "train"]
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


def test_inference_is_timed_per_backend_and_precision_at_a_small_and_a_large_batch() -> None:
    """The inference cases differ only in backend and precision: the fastest of each batch size is read off."""
    cases = [c for c in load_suite(REPO / "suites/implementations.yaml").cases if c.mode == "inference"]
    assert sorted((c.backend.name, c.precision) for c in cases) == [
        ("compiled", "bf16"), ("compiled", "fp32"), ("eager", "bf16"), ("eager", "fp32")]
    shapes = {c.model_dump_json(exclude={"name", "backend", "precision"}) for c in cases}
    assert len(shapes) == 1
    case = cases[0]
    assert case.inference.batch_sizes == [64, 2048] and case.model.table_sizes == [100_000] * 26
    assert all(p.skip_reason is None for p in plan([scale_down(c, NO_GPU) for c in cases], NO_GPU, get_registry()))


#: The scaled-down suite shrunk further for CI: a few steps of a small batch over small tables. The model
#: shape (NVIDIA's MLPs, dim 128, dot), the backends, strategies and options stay those of the suite.
CI_STEPS, CI_BATCH, CI_ROWS = 4, 128, 2000


def _ci_sized(case):
    data = case.model_dump(mode="json")
    data.update(max_steps=CI_STEPS, benchmark_warmup_steps=1, batch_size=CI_BATCH, test_batch_size=CI_BATCH,
                test_batches=1, timeout_s=600, auc_comparable=None)
    data["model"]["table_sizes"] = [min(rows, CI_ROWS) for rows in data["model"]["table_sizes"]]
    data["dataset"]["options"].update(train_samples=CI_BATCH * CI_STEPS, test_samples=CI_BATCH,
                                      table_sizes=data["model"]["table_sizes"])
    return data


@pytest.mark.slow
def test_every_case_that_can_run_here_runs_end_to_end_scaled_down(tmp_path, monkeypatch) -> None:
    """``suites/implementations.yaml`` as ``run --scale-down`` plans it, made smaller still, run through
    ``dlrmbench run``: every case the planner finds runnable here trains and records its metrics; the
    others are recorded as skipped with the planner's reason."""
    import yaml

    from dlrmbench.config.schema import Case
    from dlrmbench.host import current_host
    from dlrmbench.results.schema import CaseResult, RunManifest
    from tests.conftest import cli_env, run_cli

    monkeypatch.delenv("TRITON_INTERPRET", raising=False)  # as a user's shell: interpreted kernels are skipped
    host = current_host()
    suite = load_suite(REPO / "suites/implementations.yaml")
    # training and the hybrid topologies (the inference cases' forward pass is run end to end elsewhere)
    cases = [Case.model_validate(_ci_sized(scale_down(c, host))) for c in suite.cases if c.mode == "train"]
    planned = {p.case.name: p.skip_reason for p in plan(cases, host, get_registry())}
    runnable = sorted(name for name, reason in planned.items() if reason is None)
    # what is always here: the eager backend with every dlrmbench strategy that has a CPU path
    assert {"train-eager-multi_table", "train-eager-joint", "train-eager-joint_sparse",
            "train-eager-joint_sgd_in_backward"} <= set(runnable)
    file = tmp_path / "implementations-ci.yaml"
    file.write_text(yaml.safe_dump({"name": "implementations", "cases": [_ci_sized(c) for c in cases]}))
    env = {k: v for k, v in cli_env().items() if k != "TRITON_INTERPRET"}
    result = run_cli("run", str(file), "-o", str(tmp_path / "results"), "--quiet", env=env, timeout=1500)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (run_json,) = (tmp_path / "results").rglob("run.json")
    manifest = RunManifest.model_validate_json(run_json.read_text())
    statuses = {c.case: (c.status, c.reason) for c in manifest.cases}
    assert sorted(n for n, (status, _) in statuses.items() if status == "ok") == runnable
    for name, (status, reason) in statuses.items():
        if status == "skipped":
            assert reason == planned[name]
    for name in runnable:
        result_file = next((run_json.parent / "cases").glob(f"{name}.*json"))
        recorded = CaseResult.model_validate_json(result_file.read_text())
        assert recorded.value("train_steps") == CI_STEPS and len(recorded.step_times_s) == CI_STEPS
        assert recorded.value("train_throughput") > 0 and recorded.value("auc") is not None
        assert recorded.config["comparable"] is False and "scaled_down" in recorded.config["tags"]
