"""``distributed.topology``: typed and validated in the suite, refused at planning with the field and the fix,
and run end to end by ``dlrmbench run`` (torchrun, 2 gloo ranks) side by side with dlrmbench's own."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from dlrmbench.cli import make_cli
from dlrmbench.config.schema import Case
from dlrmbench.host import Host
from dlrmbench.plugins import get_registry
from dlrmbench.runner.plan import plan

SUITE = """
name: topologies
defaults:
  device: cpu
  precision: fp32
  processes: 2
  batch_size: 64
  max_steps: 6
  benchmark_warmup_steps: 1
  embedding: torchrec_fused
  model: {table_sizes: [50, 40, 30], embedding_dim: 8, bottom_mlp: [16, 8], top_mlp: [16, 1]}
  optimizer: {lr: 0.5, warmup_steps: 0, decay_start_step: null, decay_steps: 0}
  dataset:
    name: synthetic
    options: {train_samples: 512, test_samples: 256, seed: 3, multi_hot_sizes: [2, 1, 3]}
cases:
  - name: side
    matrix:
      distributed.topology: [dlrmbench, torchrec_dmp]
"""


def topology_reason(case: Case) -> str | None:
    """The planner's verdict on ``case`` (the topology plugin's check comes first for these small cases)."""
    (planned,) = plan([case], Host(cpu_count=2, memory_bytes=2**34), get_registry())
    return planned.skip_reason


def case(**fields: object) -> Case:
    raw = {"name": "c", "device": "cpu", "processes": 2, "embedding": "torchrec_fused",
           "distributed": {"topology": "torchrec_dmp"}, **fields}
    return Case.model_validate(raw)


def test_the_default_is_dlrmbench_and_sharding_needs_the_dmp_topology(tmp_path: Path) -> None:
    assert Case.model_validate({"name": "c"}).distributed.topology is None  # the family's default
    from dlrmbench.workload.build import resolve

    two = Case.model_validate({"name": "c", "device": "cpu", "processes": 2, "model": {"table_sizes": [4, 4]}})
    assert resolve(two).case.distributed.topology == "dlrmbench"  # the DLRM family's default topology
    suite = tmp_path / "s.yaml"
    suite.write_text("name: s\ncases:\n  - name: c\n    distributed: {torchrec_sharding: table_wise}\n")
    result = CliRunner().invoke(make_cli(), ["validate", str(suite)])
    assert result.exit_code == 2
    assert "distributed.torchrec_sharding applies to distributed.topology: torchrec_dmp only" in result.output
    suite.write_text("name: s\ncases:\n  - name: c\n    distributed: {topology: torchrec_dmp, "
                     "torchrec_sharding: row_wise}\n")
    result = CliRunner().invoke(make_cli(), ["validate", str(suite)])
    assert result.exit_code == 2 and "table_wise" in result.output and "column_wise" in result.output


def test_the_sparse_dist_pipeline_needs_the_dmp_topology_and_the_old_switch_still_reads() -> None:
    """``distributed.pipeline``: auto by default; sparse_dist (TorchRec's TrainPipelineSparseDist) only on
    torchrec_dmp, refused elsewhere naming the field and the fix; the old true/false read as auto/off."""
    assert Case.model_validate({"name": "c"}).distributed.pipeline == "auto"
    assert case(distributed={"topology": "torchrec_dmp", "pipeline": "sparse_dist"}).distributed.pipeline == "sparse_dist"
    assert case(distributed={"topology": "torchrec_dmp", "pipeline": True}).distributed.pipeline == "auto"
    assert case(distributed={"topology": "torchrec_dmp", "pipeline": False}).distributed.pipeline == "off"
    for topology in ("dlrmbench", None):
        with pytest.raises(ValueError, match="distributed.pipeline sparse_dist .* applies to distributed.topology: "
                                             "torchrec_dmp only .*pipeline: auto, thread or off"):
            case(distributed={"topology": topology, "pipeline": "sparse_dist"})
    with pytest.raises(ValueError, match="'auto', 'sparse_dist', 'thread' or 'off'"):
        case(distributed={"topology": "torchrec_dmp", "pipeline": "torchrec"})


def test_planning_refuses_what_dmp_cannot_run_naming_the_field_and_the_fix() -> None:
    assert topology_reason(case()) is None
    assert topology_reason(case(distributed={"topology": "dlrmbench"}, embedding="joint")) is None
    one = topology_reason(case(processes=1))
    assert "needs more than one process" in one and "raise processes/gpus" in one
    joint = topology_reason(case(embedding="joint"))
    assert "embedding joint has none: set embedding: torchrec_fused" in joint
    assert "distributed.topology: dlrmbench" in joint
    assert "set precision: fp32" in topology_reason(case(precision="bf16"))


@pytest.mark.slow
def test_dlrmbench_run_puts_both_topologies_side_by_side(tmp_path: Path) -> None:
    import json

    suite = tmp_path / "topologies.yaml"
    suite.write_text(SUITE)
    out = tmp_path / "out"
    result = CliRunner().invoke(make_cli(), ["run", str(suite), "--output", str(out)])
    assert result.exit_code == 0, result.output
    records = {}
    for path in out.rglob("*.json"):
        data = json.loads(path.read_text())
        if isinstance(data, dict) and data.get("case") in ("side-dlrmbench", "side-torchrec_dmp"):
            records[data["case"]] = data
    assert set(records) == {"side-dlrmbench", "side-torchrec_dmp"}, sorted(p.name for p in out.rglob("*"))
    mine, theirs = records["side-dlrmbench"], records["side-torchrec_dmp"]
    assert mine["status"] == theirs["status"] == "ok"
    assert theirs["telemetry"]["topology"] == "torchrec_dmp"
    plan = theirs["telemetry"]["sharding_plan"]
    assert {row["sharding_type"] for row in plan} <= {"table_wise", "column_wise"} and len(plan) == 3  # planner's pick
    assert mine["telemetry"]["topology"] == "dlrmbench"
    loss = lambda r: r["metrics"]["final_train_loss"]["value"]  # noqa: E731
    auc = lambda r: r["metrics"]["auc"]["value"]  # noqa: E731
    assert loss(theirs) == pytest.approx(loss(mine), rel=1e-5)
    assert auc(theirs) == pytest.approx(auc(mine), abs=1e-5)
