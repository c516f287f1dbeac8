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


DATA_SUITE = """
name: fit-from-data
defaults:
  device: cpu
  batch_size: 16
  model: {bottom_mlp: [16, 16], top_mlp: [16, 1], embedding_dim: 16}
cases:
  - name: split-data
    dataset: {name: split, options: {path: DATA}}
  - name: memmap-data
    dataset: {name: memmap, options: {path: DATA}}
  - name: synthetic-model-size
    dataset: {name: synthetic, options: {model_size: DATA/model_size.json, train_samples: 64, test_samples: 32}}
"""


def test_table_sizes_from_the_data_are_planned_as_run_builds_them(write_suite, tmp_path: Path) -> None:
    """Issue 28, finding 6: a model_size.json of 2^31 - 1 rows (which the schema allows) was planned as
    runnable and the worker tried to allocate 128 GiB; the plan now reads the sizes the case builds."""
    from dlrmbench.data.split import write_split_dataset
    from tests.datasets.dataset_factories import make_arrays

    data = tmp_path / "data"
    write_split_dataset(data, [2**31 - 1, 10], {"train": make_arrays(64, [10, 10], 0),
                                                "test": make_arrays(32, [10, 10], 1)})
    suite = write_suite(DATA_SUITE.replace("DATA", str(data)))
    shown = run_cli("plan", str(suite), "--json", timeout=120)
    assert shown.returncode == 0, shown.stderr
    planned = {c["case"]: c for c in json.loads(shown.stdout)["cases"]}
    assert len(planned) == 3 and not any(c["runnable"] for c in planned.values())
    assert all("2,147,483,647 rows x 16 x 4 B = 128.00 GiB" in c["skip_reason"] for c in planned.values())
    out = tmp_path / "results"
    ran = run_cli("run", str(suite), "-o", str(out), "--quiet", timeout=180)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    for name, case in planned.items():
        result = json.loads(next(out.rglob(f"{name}.json")).read_text())
        assert result["status"] == "skipped" and result["reason"] == case["skip_reason"]
