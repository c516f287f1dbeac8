"""The CPU-checkable parts of bench/gpu_check.py: arguments, the FL15 tables, the plan, the script guard."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load_gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "bench" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gpu_check", module)  # dataclasses look their module up while being built
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_fl15_tables_match_the_facts_sheet() -> None:
    gc = load_gpu_check()
    sizes = gc.FL15_TABLE_SIZES
    assert len(sizes) == 26 and sum(sizes) == 32_709_138  # facts sheet 4.1
    assert (sizes[0], sizes[5], sizes[19], sizes[25]) == (7_912_889, 4, 8_165_896, 35)
    assert gc.table_bytes() == 32_709_138 * 128 * 4


def test_defaults_are_the_reference_shape() -> None:
    args = load_gpu_check().parse_args([])
    assert args.batch_size == 32768 and args.precisions == ["tf32", "amp"] and args.budget_s < 480
    assert args.backends == ["eager", "compiled", "cuda_fused", "apex_mlp"]


def test_plan_covers_every_combination_one_table_at_a_time() -> None:
    gc = load_gpu_check()
    plan = gc.plan(gc.parse_args([]))
    assert len(plan) == 4 * 4 * 2 == len(set(plan))
    embeddings = [e for e, _, _ in plan]
    assert embeddings == sorted(embeddings, key=embeddings.index)  # grouped: each table built once


def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        load_gpu_check().parse_args(["--precisions", "fp16"])
    assert exc.value.code == 2 and "unknown precision(s) ['fp16']" in capsys.readouterr().err


def test_dry_run_needs_no_gpu() -> None:
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_check.py"), "--dry-run", "--precisions", "amp"],
                         capture_output=True, text=True, check=True).stdout
    assert "26 features, 32,709,138 rows, 16.75 GB" in out and "joint_fused cuda_fused amp" in out
    assert "tf32" not in out
