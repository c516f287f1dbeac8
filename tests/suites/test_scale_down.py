"""Planning on a machine that cannot run the GPU suites, and ``--scale-down``."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from dlrmbench.cli import make_cli
from dlrmbench.config.loader import load_suite
from dlrmbench.config.variants import SCALED_ROWS, scale_down
from dlrmbench.host import Gpu, Host
from dlrmbench.plugins import get_registry
from dlrmbench.runner.plan import plan

REPO = Path(__file__).resolve().parents[2]
NO_GPU = Host(cpu_count=2, gpu_probe_error="NVML unavailable: NVMLError_LibraryNotFound")
ONE_A100 = Host(gpus=(Gpu(0, "NVIDIA A100-SXM4-40GB", 40 * 2**30, (8, 0)),), cpu_count=16)
ONE_V100 = Host(gpus=(Gpu(0, "Tesla V100-SXM2-32GB", 32 * 2**30, (7, 0)),), cpu_count=16)


def test_every_gpu_case_is_skipped_without_a_gpu_with_the_exact_reason() -> None:
    for name in ("dgxa100", "dgx1", "dgx2", "h100"):
        planned = plan(load_suite(REPO / "suites" / f"{name}.yaml").cases, NO_GPU, get_registry())
        assert {p.skip_reason for p in planned} == {
            "needs a CUDA GPU; none found (NVML unavailable: NVMLError_LibraryNotFound)"}


def test_gpu_count_and_precision_reasons_on_a_small_machine() -> None:
    planned = {p.case.name: p.skip_reason for p in plan(load_suite(REPO / "suites/dgxa100.yaml").cases,
                                                       ONE_A100, get_registry())}
    assert planned["train-8gpu-large-tf32"] == "needs 8 GPUs; this machine has 1"
    assert planned["train-1gpu-small-amp"] is None
    planned = {p.case.name: p.skip_reason for p in plan(load_suite(REPO / "suites/dgxa100.yaml").cases,
                                                       ONE_V100, get_registry())}
    assert planned["train-1gpu-small-tf32"] == ("precision tf32 needs compute capability 8.0 (Ampere) or newer; "
                                               "this GPU has 7.0")


def test_scale_down_makes_a_cpu_sized_not_comparable_case() -> None:
    case = {c.name: c for c in load_suite(REPO / "suites/dgx2.yaml").cases}["train-16gpu-large-amp"]
    small = scale_down(case, NO_GPU)
    assert small.comparable is False and "scaled_down" in small.tags
    assert small.device == "cpu" and small.processes == 1 and small.precision == "bf16"
    assert max(small.model.table_sizes) == SCALED_ROWS and len(small.model.table_sizes) == 26
    assert small.batch_size <= 512 and small.max_steps == 24
    assert small.dataset.options["train_samples"] == small.batch_size * 24
    assert small.model.bottom_mlp == case.model.bottom_mlp and small.model.top_mlp == case.model.top_mlp
    assert all(p.runnable for p in plan([small], NO_GPU, get_registry()))
    on_gpu = scale_down(case, ONE_A100)
    assert on_gpu.device == "cuda" and on_gpu.gpus == 1 and on_gpu.precision == "amp" and not on_gpu.comparable


def test_scale_down_of_inference_keeps_small_batches() -> None:
    case = {c.name: c for c in load_suite(REPO / "suites/h100.yaml").cases}["inference-amp-graphs"]
    small = scale_down(case, NO_GPU)
    assert small.inference.batch_sizes == [4096, 2048, 1024, 512, 256, 128, 64, 32, 16, 8, 4, 2]
    assert small.inference.cuda_graphs is False and small.inference.steps == 20


def test_dry_run_lists_skips_and_scaled_down_labels(monkeypatch) -> None:
    monkeypatch.setenv("DLRMBENCH_FAKE_GPUS", "0")
    from dlrmbench.host import current_host

    current_host.cache_clear()
    try:
        runner = CliRunner()
        out = runner.invoke(make_cli(), ["run", str(REPO / "suites/dgx1.yaml"), "--dry-run"],
                            env={"COLUMNS": "250"})
        assert out.exit_code == 0, out.output
        assert out.output.count("skip: needs a CUDA GPU; none found (DLRMBENCH_FAKE_GPUS=0)") == 4
        assert "0 of 4 case(s) would run" in out.output
        out = runner.invoke(make_cli(), ["run", str(REPO / "suites/dgx1.yaml"), "--dry-run", "--scale-down"],
                            env={"COLUMNS": "250"})
        assert out.exit_code == 0, out.output
        assert out.output.count("(scaled down: not comparable)") == 4
        assert "4 of 4 case(s) would run" in out.output
    finally:
        current_host.cache_clear()


def small_criteo_like(root: Path) -> Path:
    """A 600-sample split dataset declaring the FL15 table sizes (ids drawn below 1000)."""
    import numpy as np

    from dlrmbench.config.presets import TABLE_SIZE_PRESETS
    from dlrmbench.data.split import write_split_dataset

    sizes = list(TABLE_SIZE_PRESETS["criteo_fl15"])
    rng = np.random.default_rng(0)

    def arrays(n: int):
        return (rng.integers(0, 2, n).astype(bool), rng.random((n, 13)).astype(np.float32),
                np.stack([rng.integers(0, min(s, 1000), n) for s in sizes], axis=1))

    write_split_dataset(root, sizes, {"train": arrays(400), "test": arrays(200)})
    return root


def test_dataset_path_goes_to_the_cases_with_matching_table_sizes(tmp_path: Path) -> None:
    from dlrmbench.config.variants import apply_variants

    data = small_criteo_like(tmp_path / "fl15")
    cases, notes = apply_variants(load_suite(REPO / "suites/dgx1.yaml").cases, NO_GPU, dataset_paths=[data])
    by_name = {c.name: c for c in cases}
    for name in ("train-1gpu-small-fp32", "train-1gpu-small-amp"):
        assert by_name[name].dataset.name == "split" and by_name[name].dataset.options == {"path": str(data)}
    for name in ("train-8gpu-large-fp32", "train-8gpu-large-amp"):
        assert by_name[name].dataset.name == "synthetic"
    assert len(notes) == 2 and all("runs on synthetic data" in n and "177,944,291 rows" in n for n in notes)
    scaled, _ = apply_variants([by_name["train-1gpu-small-amp"]], NO_GPU, scale=True)
    assert scaled[0].model.hash_indices and scaled[0].model.max_table_size == SCALED_ROWS
    assert all(p.runnable for p in plan(scaled, NO_GPU, get_registry()))


def test_dataset_path_must_be_a_dataset(tmp_path: Path) -> None:
    runner = CliRunner()
    out = runner.invoke(make_cli(), ["run", str(REPO / "suites/dgx1.yaml"), "--dry-run",
                                     "--dataset-path", str(tmp_path / "nope")])
    assert out.exit_code == 2 and "no such directory" in out.output
    out = runner.invoke(make_cli(), ["run", str(REPO / "suites/dgx1.yaml"), "--dry-run", "--dataset-path", str(tmp_path)])
    assert out.exit_code == 2 and "empty directory; expected model_size.json" in out.output
