"""The DLRMv2 suites say what their comments and sources say."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from dlrmbench.config.loader import load_suite
from dlrmbench.mlperf.dcnv2_log import eval_interval_steps
from dlrmbench_plugins.datasets.mlperf_npy import MLPERF_HOTNESS, MLPERF_TABLE_SIZES

REPO = Path(__file__).resolve().parents[2]


def _cases(name: str) -> dict:
    return {c.name: c for c in load_suite(REPO / "suites" / name).cases}


def test_mlperf_dlrmv2_is_the_reference_configuration() -> None:
    from dlrmbench.mlperf.closed import rcp_learning_rates

    cases = _cases("mlperf-dlrmv2.yaml")
    train = [c for c in cases.values() if c.mode == "train"]
    for case in train:
        assert case.model.interaction.name == "dcnv2" and case.model.table_sizes == MLPERF_TABLE_SIZES
        assert case.model.bottom_mlp == [512, 256, 128] and case.model.top_mlp == [1024, 1024, 512, 256, 1]
        assert case.optimizer.name == "adagrad" and case.optimizer.options.get("eps", 1e-8) == 1e-8
        assert (case.optimizer.warmup_steps, case.optimizer.decay_steps) == (0, 0)
        assert case.test_freq == eval_interval_steps(case.batch_size) and case.auc_threshold == 0.80275
        assert [case.optimizer.lr] == rcp_learning_rates(case.batch_size)  # the RCPs' (0.004 at 55296 and 65536)
        assert case.embedding.name == "torchrec_fused" and case.model.mlp_init in ("auto", "torch")
    assert all(c.dataset.options["multi_hot_sizes"] == MLPERF_HOTNESS for c in cases.values())
    assert cases["train-8gpu-gbs55296"].reference.time_to_train_min == 3.469
    assert cases["train-8gpu-gbs55296-b200"].reference.time_to_train_min == 2.259


def test_criteo_sample_is_the_cross_validated_choice() -> None:
    spec = importlib.util.spec_from_file_location("criteo_cv", REPO / "bench" / "criteo_cv.py")
    cv = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cv)  # type: ignore[union-attr]
    name, threshold, chosen = next(c for c in cv.CANDIDATES if c[0] == "adagrad thr3 lr0.05 bs32")
    case = _cases("criteo-sample.yaml")["train"]
    assert threshold == 3 and "--frequency-threshold 3" in (REPO / "suites" / "criteo-sample.yaml").read_text()
    assert case.batch_size == chosen["batch_size"] and case.test_batch_size == chosen["test_batch_size"]
    assert case.optimizer.name == "adagrad" and case.optimizer.lr == chosen["optimizer"]["lr"]
    model = case.model
    assert (model.bottom_mlp, model.embedding_dim, model.top_mlp, model.interaction.name) == (
        chosen["model"]["bottom_mlp"], chosen["model"]["embedding_dim"], chosen["model"]["top_mlp"],
        chosen["model"]["interaction"])
    assert case.seed == chosen["seed"] and case.epochs == chosen["epochs"]


def test_the_bf16_suite_is_criteo_sample_at_two_precisions_on_five_shuffles() -> None:
    """Pairs differ only in precision; the shuffles only in the batch order's seed; the rest is criteo-sample."""
    sample = _cases("criteo-sample.yaml")["train"]
    cases = _cases("criteo-sample-bf16.yaml")
    assert sorted(cases) == sorted(f"precision-{p}-{s}" for p in ("fp32", "bf16") for s in range(5))
    same = {"name", "precision", "dataset", "source"}
    for case in cases.values():
        assert case.model_dump(exclude=same) == sample.model_dump(exclude=same)
        options = dict(case.dataset.options)
        assert options.pop("shuffle_batch_order") is True and options.pop("shuffle_seed") in range(5)
        assert options == dict(sample.dataset.options)
