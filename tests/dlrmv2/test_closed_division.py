"""Closed division for dlrm_dcnv2: a reference run passes; each way of differing is named, by the planner
(the case is not run) and by ``mlperf package`` (a run whose log says closed is refused), one test per reason."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dlrmbench.config.schema import Case
from dlrmbench.errors import UserError
from dlrmbench.mlperf.closed import (
    RCP_LEARNING_RATES, REFERENCE_HOTNESS, REFERENCE_TABLE_SIZES, closed_problems, rcp_learning_rates,
)
from dlrmbench.mlperf.dcnv2_log import Dcnv2Run
from tests.dlrmv2.mllog_runs import write_log


def reference_config(**changes: Any) -> dict[str, Any]:
    """A closed DLRMv2 case as a result records it (``auc_comparable`` set by the planner: real data)."""
    config: dict[str, Any] = {
        "name": "closed", "mode": "train", "device": "cuda", "gpus": 8, "precision": "fp32",
        "embedding": "torchrec_fused", "batch_size": 55296, "seed": 1, "auc_comparable": True,
        "dataset": {"name": "mlperf_npy", "options": {"path": "data", "multi_hot_sizes": REFERENCE_HOTNESS}},
        "model": {"num_numerical": 13, "bottom_mlp": [512, 256, 128], "top_mlp": [1024, 1024, 512, 256, 1],
                  "embedding_dim": 128, "interaction": {"name": "dcnv2", "options": {"layers": 3, "low_rank": 512}},
                  "table_sizes": REFERENCE_TABLE_SIZES, "mlp_init": "torch"},
        "optimizer": {"name": "adagrad", "lr": 0.004, "warmup_steps": 0, "decay_start_step": 0, "decay_steps": 0,
                      "options": {"eps": 1e-8}},
        "mlperf_log": {"path": "logs/{case}.txt", "benchmark": "dlrm_dcnv2", "division": "closed"},
    }
    for dotted, value in changes.items():
        *parents, leaf = dotted.split(".")
        target = config
        for key in parents:
            target = target[key]
        target[leaf] = value
    return config


# (what differs, the change, a fragment of the reason); another optimizer than Adagrad is refused when the suite
# loads (tests/dlrmv2/test_mllog.py::test_dlrm_dcnv2_log_settings_are_checked_when_the_suite_loads)
REASONS = [
    ("model", {"model.interaction": {"name": "dcnv2", "options": {"layers": 2, "low_rank": 512}}}, "model is not"),
    ("table sizes", {"model.table_sizes": [1000] * 26}, "table sizes are not"),
    ("hotness", {"dataset.options.multi_hot_sizes": [1] * 26}, "ids per feature"),
    ("synthetic data", {"auc_comparable": False}, "is not the MLPerf Criteo"),
    ("precision", {"precision": "bf16"}, "precision bf16"),
    ("initialisation", {"model.mlp_init": "nvidia"}, "model.mlp_init nvidia"),
    ("epsilon", {"optimizer.options": {"eps": 1e-10}}, "Adagrad epsilon 1e-10"),
    ("warm-up", {"optimizer.warmup_steps": 100, "optimizer.decay_start_step": 100}, "warm-up or decay"),
    ("learning rate", {"optimizer.lr": 0.005, "batch_size": 65536}, "learning rate 0.005 at global batch 65536"),
    ("batch outside the RCPs", {"batch_size": 16384}, "no reference convergence point covers global batch 16384"),
]


def test_the_reference_run_can_be_closed() -> None:
    assert closed_problems(Case.model_validate(reference_config())) == []


@pytest.mark.parametrize("name,change,reason", REASONS, ids=[r[0] for r in REASONS])
def test_each_difference_is_named(name: str, change: dict[str, Any], reason: str) -> None:
    problems = closed_problems(Case.model_validate(reference_config(**change)))
    assert len(problems) == 1 and reason in problems[0], problems


def test_rcp_learning_rates_are_the_installed_rcps() -> None:
    """The table in dlrmbench.mlperf.closed is the RCP checker's own (ruleset 6.0.0)."""
    rcp_dir = pytest.importorskip("mlperf_logging.rcp_checker").__file__
    data = json.loads((Path(rcp_dir).parent / "training_6.0.0" / "rcps_dlrm_dcnv2.json").read_text())
    installed = {v["BS"]: v["Hyperparams"]["opt_base_learning_rate"] for v in data.values()}
    assert installed == RCP_LEARNING_RATES
    assert rcp_learning_rates(65536) == [0.004] and rcp_learning_rates(140000) == [0.0034, 0.004]


def test_the_planner_does_not_run_a_closed_case_that_differs() -> None:
    from dlrmbench.host import Host
    from dlrmbench.plugins import get_registry
    from dlrmbench.runner.plan import resolve

    raw = reference_config(precision="bf16")
    raw.update({"dataset": {"name": "synthetic", "options": {"multi_hot_sizes": REFERENCE_HOTNESS}},
                "device": "cpu", "gpus": 1})
    raw.pop("auc_comparable")
    planned = resolve(Case.model_validate(raw), Host(cpu_count=2, memory_bytes=2**40), get_registry())
    assert planned.skip_reason is not None and planned.skip_reason.startswith("mlperf_log.division closed: ")
    assert "precision bf16" in planned.skip_reason and "synthetic" in planned.skip_reason
    assert planned.skip_reason.endswith("(set mlperf_log.division: open)")


def closed_result_set(tmp_path: Path, config: dict[str, Any]) -> Path:
    """10 runs whose logs say closed (and pass the log's own checks), each recording ``config``."""
    results = tmp_path / "results" / "s" / "r"
    results.mkdir(parents=True)
    cases = []
    for run in range(10):
        case = f"closed{run}"
        log = tmp_path / "logs" / f"{case}.txt"
        write_log(log, Dcnv2Run(global_batch_size=55296, learning_rate=0.004, seed=run, division="closed",
                                org="ACME", platform="box"), [0.79, 0.803])
        recorded = {**config, "name": case, "mlperf_log": {**config["mlperf_log"], "path": str(log)}}
        (results / f"{case}.json").write_text(json.dumps({"case": case, "repeat": 0, "config": recorded}))
        cases.append({"case": case, "repeat": 0, "status": "ok", "file": f"{case}.json"})
    (results / "run.json").write_text(json.dumps({"cases": cases, "environment": {}}))
    return results


@pytest.mark.parametrize("name,change,reason", REASONS, ids=[r[0] for r in REASONS])
def test_package_refuses_to_call_a_differing_run_closed(tmp_path: Path, name: str, change: dict[str, Any],
                                                        reason: str) -> None:
    from dlrmbench.mlperf.package import write_package

    results = closed_result_set(tmp_path, reference_config(**change))
    with pytest.raises(UserError, match="cannot be closed results") as refused:
        write_package(results, tmp_path / "out")
    lines = [line.strip() for line in str(refused.value).splitlines() if line.strip().startswith("closed0: ")]
    assert len(lines) == 1 and reason in lines[0], str(refused.value)
    assert not (tmp_path / "out").exists()


def test_package_writes_closed_reference_runs(tmp_path: Path) -> None:
    from dlrmbench.mlperf.package import write_package

    root = write_package(closed_result_set(tmp_path, reference_config()), tmp_path / "out")
    assert len(list((root / "results" / "box" / "dlrm_dcnv2").iterdir())) == 10
