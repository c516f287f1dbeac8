"""``dlrmbench plan`` and ``run --dry-run`` show the memory plan; planning stays light (no torch)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from dlrmbench.cli import make_cli
from dlrmbench.config.schema import Case
from dlrmbench.host import Gpu, Host
from dlrmbench.plugins import get_registry
from dlrmbench.runner.plan import plan

SUITE = """\
name: dist
defaults:
  device: cpu
  dataset: {name: synthetic, options: {train_samples: 8192, test_samples: 2048}}
  batch_size: 512
  model: {bottom_mlp: [16, 8], top_mlp: [16, 1], embedding_dim: 8, table_sizes: [1000, 500, 200, 100]}
cases:
  - name: cpu2
    processes: 2
  - name: huge
    processes: 2
    model: {bottom_mlp: [16, 8], top_mlp: [16, 1], embedding_dim: 8, table_sizes: [100000000000, 10]}
"""


def write_suite(tmp_path: Path) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(SUITE)
    return path


def test_plan_command_shows_tables_per_rank_and_refusals(tmp_path: Path) -> None:
    result = CliRunner().invoke(make_cli(), ["plan", str(write_suite(tmp_path))], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    out = result.output
    assert "cpu2 (2 x cpu, global batch 512): fits" in out
    assert "cpu rank 0" in out and "cpu rank 1" in out and "activations" in out and "optimizer" in out
    assert "huge (2 x cpu, global batch 512): does not fit" in out
    assert "table 0 (cat_0, 100,000,000,000 rows x 8 x 4 B = 2980.23 GiB) is larger than any device" in out


def test_dry_run_shows_the_memory_plan_and_skips_what_cannot_fit(tmp_path: Path) -> None:
    result = CliRunner().invoke(make_cli(), ["run", "--dry-run", str(write_suite(tmp_path))],
                                env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "cpu2 (2 x cpu, global batch 512): fits" in result.output
    assert "1 of 2 case(s) would run" in result.output


def test_more_gpus_than_present_is_a_skip() -> None:
    host = Host(gpus=tuple(Gpu(i, "g", 80 * 2**30, (9, 0)) for i in range(2)), cpu_count=2, memory_bytes=2**35)
    case = Case.model_validate({"name": "g4", "gpus": 4, "batch_size": 4096, "model": {"table_sizes": [10, 10]}})
    [planned] = plan([case], host, get_registry())
    assert planned.skip_reason == "needs 4 GPUs; this machine has 2"


def test_planning_imports_no_torch() -> None:
    code = ("import sys; from dlrmbench.distributed import launch, hybrid_memory, placement; "
            "from dlrmbench.report import memory_tables; from dlrmbench.host import Host; "
            "from dlrmbench.config.schema import Case; from dlrmbench.runner.plan import plan; "
            "from dlrmbench.plugins import get_registry; "
            "[p] = plan([Case(name='c', device='cpu', processes=2, model={'table_sizes': [4, 4]})], "
            "Host(cpu_count=4, memory_bytes=2**33), get_registry()); assert p.runnable, p.skip_reason; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_plan_writes_case_files_and_the_multinode_command(tmp_path: Path) -> None:
    out = tmp_path / "cases"
    result = CliRunner().invoke(make_cli(), ["plan", str(write_suite(tmp_path)), "--only", "cpu2",
                                             "--case-files", str(out), "--nodes", "2"], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    from dlrmbench.resolved import read_resolved_case

    resolved = read_resolved_case(out / "cpu2.json")  # the very file a worker and every rank read
    case = resolved.case
    assert case.name == "cpu2" and case.processes == 2
    assert resolved.launcher == "torchrun" and resolved.world_size == 2
    assert resolved.plugins["dataset"].factory.startswith("dlrmbench_plugins.")
    assert (f"python -m torch.distributed.run --nnodes 2 --nproc_per_node 1 --rdzv_backend c10d --rdzv_endpoint "
            f"HOST0:29500 --rdzv_id cpu2 --max_restarts 0 -m dlrmbench.runner.worker {out / 'cpu2.json'}") in result.output
    bad = CliRunner().invoke(make_cli(), ["plan", str(write_suite(tmp_path)), "--only", "cpu2",
                                          "--case-files", str(out), "--nodes", "3"])
    assert bad.exit_code == 2 and "has 2 ranks, not a multiple of 3" in bad.output


DMP_SUITE = """\
name: dmp
defaults:
  device: cpu
  precision: fp32
  processes: 2
  batch_size: 64
  embedding: torchrec_fused
  distributed: {topology: torchrec_dmp}
  model: {table_sizes: [50, 40, 30], embedding_dim: 8, bottom_mlp: [16, 8], top_mlp: [16, 1]}
  dataset: {name: synthetic, options: {train_samples: 512, test_samples: 256, multi_hot_sizes: [2, 1, 3]}}
cases:
  - name: dmp2
"""


def test_plan_shows_torchrecs_per_table_sharding_plan(tmp_path: Path) -> None:
    """Each table's rows, sharding type and ranks (equal to what the ranks plan: test_parity_torchrec_dmp)."""
    suite = tmp_path / "dmp.yaml"
    suite.write_text(DMP_SUITE)
    result = CliRunner().invoke(make_cli(), ["plan", str(suite)], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    out = result.output
    assert "dmp2: per-table sharding plan" in out
    assert "chosen by torchrec_dmp's planner for 2 ranks of cpu, global batch 64" in out
    rows = [line.split("│")[1:-1] for line in out.splitlines() if line.startswith("│ table_")]
    assert [(r[0].strip(), r[1].strip()) for r in rows] == [("table_0", "50"), ("table_1", "40"), ("table_2", "30")]
    assert {r[2].strip() for r in rows} <= {"table_wise", "column_wise"} and {r[3].strip() for r in rows} == {"fused"}
    assert {r[4].strip() for r in rows} <= {"0", "1"}
    import json

    doc = json.loads(CliRunner().invoke(make_cli(), ["plan", str(suite), "--json"]).stdout)
    shown = doc["cases"][0]["sharding_plan"]
    assert [(r["table"], r["rows"], r["sharding_type"], ", ".join(map(str, r["ranks"]))) for r in shown] == \
        [(r[0].strip(), int(r[1]), r[2].strip(), r[4].strip()) for r in rows]


def test_plan_without_torchrec_says_it_cannot_show_the_sharding_plan(tmp_path: Path, monkeypatch) -> None:
    import dlrmbench.plugin_api as api

    real = api.module_available
    monkeypatch.setattr(api, "module_available", lambda name: False if name == "torchrec" else real(name))
    suite = tmp_path / "dmp.yaml"
    suite.write_text(DMP_SUITE)
    result = CliRunner().invoke(make_cli(), ["plan", str(suite)], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    assert ("dmp2: the per-table sharding plan of topology torchrec_dmp is not shown: TorchRec is not installed "
            "(make torchrec): its EmbeddingShardingPlanner chooses each table's sharding type and ranks when the "
            "case runs") in result.output
    assert "skip: topology torchrec_dmp: Python module 'torchrec' is not installed" in result.output
    import json

    doc = json.loads(CliRunner().invoke(make_cli(), ["plan", str(suite), "--json"]).stdout)
    assert doc["cases"][0]["sharding_plan_reason"].startswith("TorchRec is not installed (make torchrec)")


def test_the_plan_command_imports_no_torch_for_other_topologies(tmp_path: Path) -> None:
    code = ("import sys; from click.testing import CliRunner; from dlrmbench.cli import make_cli; "
            f"r = CliRunner().invoke(make_cli(), ['plan', {str(write_suite(tmp_path))!r}]); "
            "assert r.exit_code == 0, r.output; assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
