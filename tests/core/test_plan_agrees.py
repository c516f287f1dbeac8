"""`plan` and `run` give every case the same verdict: a case whose memory plan does not fit is skipped by
both, single-process cases included (the plan used to say "does not fit" and `run` attempted it)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_cli

SUITE = """
name: fit
defaults:
  device: cpu
  batch_size: 256
  dataset: {name: synthetic, options: {train_samples: 1024, test_samples: 512}}
  model: {bottom_mlp: [16, 8], top_mlp: [16, 1], embedding_dim: 8, table_sizes: [50, 40]}
cases:
  - name: huge
    model: {bottom_mlp: [16, 128], top_mlp: [16, 1], embedding_dim: 128, table_sizes: [400000000000, 40]}
"""


def test_a_single_process_case_that_does_not_fit_is_skipped_by_plan_and_run(write_suite, tmp_path: Path) -> None:
    suite = write_suite(SUITE)
    shown = run_cli("plan", str(suite), timeout=120, env=None)
    assert shown.returncode == 0, shown.stderr
    assert "does not fit" in shown.stdout and "skip" in shown.stdout and "run " not in shown.stdout.split("huge")[-1]
    out = tmp_path / "results"
    ran = run_cli("run", str(suite), "-o", str(out), "--quiet", timeout=180)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    result = json.loads(next(out.rglob("huge.json")).read_text())
    assert result["status"] == "skipped" and result["reason"].startswith("does not fit")
