"""bf16 autocast training on the CPU reaches the AUC and log loss of fp32 (within 0.002).

Same model, seed, data and schedule; only the precision differs. Two data sets: the synthetic
teacher's clicks, and the shared real Criteo rows (bench/real_criteo.py's preprocessing) trained
with suites/criteo-sample.yaml's cross-validated settings (Adagrad lr 0.05, batch 32) on two
shuffles. Measured on 5 shuffles (seeds 0-4): |AUC difference| 0.0010 / 0.0005 / 0.0002 / 0.0002 /
0.0005, |log-loss difference| at most 0.0005. (The older SGD lr 0.7, batch 8 setting is chaotic
enough that any perturbation moves its AUC by ~0.005; it is not the configuration checked here.)
Runs where the CPU has native bf16 (AVX-512-BF16 or AMX); elsewhere bf16 is emulated and the
speed claim it backs is moot, so the test is skipped with the detector's reason.
"""

from __future__ import annotations

import pytest

from dlrmbench.config.schema import Case
from dlrmbench.cpu_features import native_bf16_reason
from dlrmbench.workload.build import build_workload
from dlrmbench.workload.reporter import Reporter
from dlrmbench.workload.train import train

from .helpers import real_criteo_bench
from dlrmbench.workload.build import resolve

TOLERANCE = 0.002
NATIVE = native_bf16_reason()


def teacher_case(precision: str, embedding: str) -> Case:
    """A small DLRM on the synthetic teacher's clicks; a test split of 32,768 samples."""
    return Case.model_validate({
        "name": f"bf16-{precision}", "mode": "train", "device": "cpu", "precision": precision,
        "embedding": {"name": embedding},
        "dataset": {"name": "synthetic", "options": {"train_samples": 65536, "test_samples": 32768, "seed": 7}},
        "batch_size": 1024, "test_batch_size": 8192, "epochs": 1, "seed": 5,
        "model": {"bottom_mlp": [64, 32, 16], "top_mlp": [64, 32, 1], "embedding_dim": 16,
                  "table_sizes": [1000, 500, 200, 100, 50, 20, 10, 5] * 3 + [3, 2]},
        "optimizer": {"lr": 1.0, "warmup_steps": 16, "decay_start_step": 32, "decay_steps": 32},
    })


def final_evaluation(case: Case) -> dict:
    outcome = train(build_workload(resolve(case)), Reporter(stream=None))
    return outcome.evaluations[-1]


@pytest.mark.slow
@pytest.mark.skipif(NATIVE is not None, reason=NATIVE or "")
@pytest.mark.parametrize("embedding", ["joint_sgd_in_backward"])
def test_bf16_matches_fp32_auc_and_log_loss_on_teacher_data(embedding: str) -> None:
    fp32 = final_evaluation(teacher_case("fp32", embedding))
    bf16 = final_evaluation(teacher_case("bf16", embedding))
    assert fp32["auc"] > 0.65  # the model learned the teacher (0.5 is chance): the comparison means something
    assert bf16["log_loss"] != fp32["log_loss"]  # bf16 really ran (rounding leaves a trace)
    assert abs(bf16["auc"] - fp32["auc"]) <= TOLERANCE, (fp32, bf16)
    assert abs(bf16["log_loss"] - fp32["log_loss"]) <= TOLERANCE, (fp32, bf16)


#: suites/criteo-sample.yaml's model and optimizer (chosen by 5-fold cross-validation on these rows).
CRITEO_SAMPLE_SETTINGS = {
    "embedding": {"name": "joint"}, "batch_size": 32,
    "optimizer": {"name": "adagrad", "lr": 0.05, "warmup_steps": 0, "decay_start_step": 0, "decay_steps": 0},
}


@pytest.mark.slow
@pytest.mark.skipif(NATIVE is not None, reason=NATIVE or "")
@pytest.mark.parametrize("shuffle", [0, 1])
def test_bf16_matches_fp32_auc_and_log_loss_on_real_criteo_rows(shuffle: int) -> None:
    bench = real_criteo_bench()
    if not all((bench.DATA_DIR / f).is_file() for f in bench.FILES):
        pytest.skip(f"the real Criteo sample is not at {bench.DATA_DIR}")
    dataset = bench.load_split(frequency_threshold=3, seed=shuffle)
    results = {}
    for precision in ("fp32", "bf16"):
        _, outcome = bench.train_small(dataset, {**CRITEO_SAMPLE_SETTINGS, "precision": precision})
        results[precision] = outcome.evaluations[-1]
    fp32, bf16 = results["fp32"], results["bf16"]
    assert fp32["auc"] > 0.73  # it learned (a held-out AUC of 0.5 is chance)
    assert bf16["log_loss"] != fp32["log_loss"]  # bf16 really ran (rounding leaves a trace)
    assert abs(bf16["auc"] - fp32["auc"]) <= TOLERANCE, (fp32, bf16)
    assert abs(bf16["log_loss"] - fp32["log_loss"]) <= TOLERANCE, (fp32, bf16)


def test_detector_reads_flags() -> None:
    from dlrmbench.cpu_features import native_bf16_flags, native_bf16_reason as reason

    assert native_bf16_flags(frozenset({"avx512f", "avx512_bf16", "amx_bf16"})) == ["avx512_bf16", "amx_bf16"]
    assert reason(frozenset({"avx512f", "amx_bf16"})) is None
    assert reason(frozenset({"avx2", "fma"})) == ("this CPU has no native bf16 (neither avx512_bf16 nor amx_bf16 in "
                                                  "/proc/cpuinfo): bf16 would be emulated")
    assert "no flags line" in reason(frozenset())
