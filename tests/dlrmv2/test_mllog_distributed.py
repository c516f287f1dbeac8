"""A 2-process CPU training case writes its dlrm_dcnv2 MLLOG (rank 0, global values), and the compliance
checker accepts it under ruleset 6.0.0, the newest that lists dlrm_dcnv2.

Through the runner (torchrun), 7 steps at a global batch of 10 (5 per rank), evaluations every 3 steps: the
log states the global batch and 7 x 10 training samples (not x 2 ranks), the evaluations of steps 3 and 6
and none after the last step (the reference evaluates only on its schedule), with the gathered AUCs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dlrmbench.runner.collect import collect
from dlrmbench.runner.isolate import run_isolated
from tests.dlrmv2.test_mllog import check
from tests.workload.helpers import tiny_case
from dlrmbench.workload.build import resolve

pytest.importorskip("mlperf_logging", reason="the mlperf-logging package (dlrmbench[mlperf]) is not installed")


@pytest.mark.slow
def test_two_ranks_write_one_log_the_checker_accepts(tmp_path: Path) -> None:
    case = tiny_case(name="v2", processes=2, batch_size=10, test_freq=3, timeout_s=180,
                     dataset={"options": {"train_samples": 70, "test_samples": 32, "seed": 1, "num_numerical": 3}},
                     model={"interaction": "dcnv2"}, optimizer={"name": "adagrad", "lr": 0.05},
                     distributed={"timeout_s": 60},
                     mlperf_log={"path": str(tmp_path / "{case}.txt"), "benchmark": "dlrm_dcnv2"})
    outcome = run_isolated(resolve(case), lambda event: None)
    result = collect(case, outcome, {"suite": "s", "run_id": "r", "case": "v2", "repeat": 0})
    assert result.status == "ok", (result.reason, outcome.log_tail[-2000:])
    path = tmp_path / "v2.txt"
    records = [json.loads(line.split(":::MLLOG ", 1)[1]) for line in path.read_text().splitlines()]
    value = {r["key"]: r["value"] for r in records}
    assert value["global_batch_size"] == 10 and value["train_samples"] == 70
    evals = [r for r in records if r["key"] == "eval_accuracy"]
    assert [round(r["metadata"]["epoch_num"], 6) for r in evals] == [round(3 / 7, 6), round(6 / 7, 6)]
    assert [r["value"] for r in evals] == [e["auc"] for e in result.evaluations]
    assert [e["step"] for e in result.evaluations] == [3, 6]
    assert value["eval_samples"] == 32
    assert records[-1]["key"] == "run_stop"
    checked = check(path, "6.0.0")
    assert checked.returncode == 0, checked.stdout + checked.stderr
