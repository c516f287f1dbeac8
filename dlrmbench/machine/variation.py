"""This machine's run-to-run variation: measured on a short reference case, stored, recorded with each run.

``dlrmbench doctor --measure-variation`` runs :func:`reference_suite` (a few seconds of training of the
quickstart model) ``runs`` times, each run its own worker process, and stores the coefficient of
variation of the runs' training throughput, ``cv = exp(sd(log values)) - 1``, keyed by the machine id
(:func:`dlrmbench.results.machine.machine_id`). Every run's value counts, noisy ones included: noise
widens the stored variation, which makes single-run verdicts more cautious, never bolder.

``dlrmbench run`` copies the stored record for its machine into the result set
(``environment.run_to_run``); ``compare`` uses it only when both sets carry it for the same machine.
The store is a JSON file: ``$DLRMBENCH_HOME/machine-variation.json`` (default ``~/.cache/dlrmbench``).
"""

from __future__ import annotations

import json
import math
import os
import statistics
from pathlib import Path
from typing import Any

from dlrmbench.errors import UserError


def reference_suite(name: str = "doctor-reference", case: str = "reference", train_samples: int = 12288) -> str:
    """The text of a suite of one short training case of the quickstart model (a few seconds on a CPU):
    ``doctor --measure-variation``'s reference case, and the A/A bench's (``bench/aa_compare.py``)."""
    return f"""name: {name}
description: a short training case of the quickstart model (a few seconds on a CPU)
defaults:
  device: cpu
  precision: fp32
  backend: eager
  embedding: joint
  batch_size: 512
  test_batch_size: 4096
  benchmark_warmup_steps: 4
  timeout_s: 300
  dataset:
    name: synthetic
    options: {{train_samples: {int(train_samples)}, test_samples: 4096, seed: 7}}
  model:
    bottom_mlp: [64, 32, 16]
    top_mlp: [64, 32, 1]
    embedding_dim: 16
    table_sizes: [1000, 500, 200, 100, 50, 20, 10, 5, 1000, 500, 200, 100, 50,
                  20, 10, 5, 1000, 500, 200, 100, 50, 20, 10, 5, 3, 2]
  optimizer: {{lr: 1.0, warmup_steps: 20, decay_start_step: 64, decay_steps: 64}}
cases:
  - name: {case}
    mode: train
"""


MIN_RUNS = 3


def store_path() -> Path:
    """Where the variation is stored: ``$DLRMBENCH_HOME/machine-variation.json`` or ``~/.cache/dlrmbench/``."""
    home = os.environ.get("DLRMBENCH_HOME")
    root = Path(home) if home else Path.home() / ".cache" / "dlrmbench"
    return root / "machine-variation.json"


def coefficient_of_variation(values: list[float]) -> float:
    """``exp(sd(log values)) - 1`` of positive finite values (at least two)."""
    logs = [math.log(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v) and v > 0]
    if len(logs) < 2:
        raise ValueError("the variation needs two positive values or more")
    return math.exp(statistics.stdev(logs)) - 1


def load_store(path: Path | None = None) -> dict[str, Any]:
    """The stored records by machine id; an empty mapping when there is no store. A store that cannot be
    read is an error naming the file and the fix."""
    path = path or store_path()
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: not a machine-variation store ({exc}); delete it and run "
                        "'dlrmbench doctor --measure-variation' again") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: not a machine-variation store (expected a mapping); delete it and measure again")
    return data


def stored_for(machine: str, path: Path | None = None) -> dict[str, Any] | None:
    """The stored record of ``machine``, or None. Never raises: a run must not fail for this."""
    try:
        record = load_store(path).get(machine)
    except UserError:
        return None
    if isinstance(record, dict) and isinstance(record.get("cv"), (int, float)) and math.isfinite(record["cv"]) \
            and record["cv"] > 0:
        return record
    return None


def save(record: dict[str, Any], path: Path | None = None) -> Path:
    """Store ``record`` under its machine id (atomic write)."""
    from dlrmbench.results.store import atomic_write_text

    path = path or store_path()
    data = load_store(path)
    data[record["machine"]] = record
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(data, indent=1, sort_keys=True) + "\n")
    return path


def record_from(values: list[float], noisy: int, machine: str, measured_at: str) -> dict[str, Any]:
    """The stored record of one measurement."""
    return {"machine": machine, "cv": coefficient_of_variation(values), "runs": len(values), "noisy_runs": noisy,
            "values": values, "case": "doctor-reference/reference train_throughput", "measured_at": measured_at}
