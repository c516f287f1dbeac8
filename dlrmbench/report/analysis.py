"""What the HTML report plots, computed from results only: precision speed-ups and GPU scaling.

Cases are paired when their configurations are identical except for the field being studied
(precision, or GPU count), so a speed-up is never computed between different models or batches.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from dlrmbench.results.compare import Comparison, Row

MIXED = ("amp", "bf16")
FULL = ("fp32", "tf32")
IGNORED = ("name", "reference", "tags", "seed", "timeout_s", "progress_every", "telemetry")


def _key(config: dict[str, Any], drop: tuple[str, ...]) -> str:
    return json.dumps({k: v for k, v in config.items() if k not in IGNORED + drop}, sort_keys=True, default=str)


def describe(config: dict[str, Any]) -> str:
    """A short label for a case configuration: "8 GPU, 26 tables (177.9M rows), batch 65536"."""
    sizes = (config.get("model") or {}).get("table_sizes") or []
    device = f"{config.get('gpus')} GPU" if config.get("device") == "cuda" else f"CPU x{config.get('processes', 1)}"
    tables = f", {len(sizes)} tables ({sum(sizes) / 1e6:.1f}M rows)" if sizes else ""
    return f"{device}{tables}, batch {config.get('batch_size')}"


@dataclass
class Speedup:
    result_set: str
    label: str
    mixed_case: str
    full_case: str
    measured: float | None
    reference: float | None
    comparable: bool


def _throughput_rows(comparison: Comparison) -> list[Row]:
    return [r for r in comparison.rows if r.metric == "train_throughput" or (r.metric or "").startswith("inference_throughput")]


def precision_speedups(comparison: Comparison) -> list[Speedup]:
    """Mixed over full precision, per result set, for every pair of cases differing only in precision."""
    out = []
    rows = _throughput_rows(comparison)
    groups: dict[tuple[str, str], list[Row]] = {}
    for row in rows:
        groups.setdefault((row.suite, _key(row.config, ("precision",))), []).append(row)
    for (suite, _), members in groups.items():
        mixed = [r for r in members if r.config.get("precision") in MIXED]
        full = [r for r in members if r.config.get("precision") in FULL]
        for m in mixed:
            for f in full:
                label = f"{suite}: {m.config.get('precision')} / {f.config.get('precision')}, {describe(m.config)}"
                ref = m.reference / f.reference if m.reference and f.reference else None
                for set_label in comparison.sets:
                    a, b = m.cells.get(set_label), f.cells.get(set_label)
                    if a is None or b is None or a.value is None or b.value is None:
                        continue
                    out.append(Speedup(set_label, label, m.case, f.case, a.value / b.value, ref,
                                       _full_size(a) and _full_size(b)))
    return out


def _full_size(cell: Any) -> bool:
    """Not scaled down (a cell not comparable for another reason, e.g. its ids, ran at full size)."""
    return bool(cell.comparable or cell.not_comparable)


@dataclass
class ScalingSeries:
    result_set: str
    label: str
    gpus: list[int]
    measured: list[float | None]
    reference: list[float | None]


def gpu_scaling(comparison: Comparison) -> list[ScalingSeries]:
    """Throughput against GPU count for cases identical except for the GPU count (and case name).
    Scaled-down results are left out: they ran on at most the GPUs this machine had."""
    groups: dict[tuple[str, str], list[Row]] = {}
    for row in _throughput_rows(comparison):
        groups.setdefault((row.suite, _key(row.config, ("gpus", "processes"))), []).append(row)
    out = []
    for (suite, _), members in groups.items():
        members = sorted(members, key=lambda r: r.config.get("gpus") or 1)
        if len({r.config.get("gpus") for r in members}) < 2:
            continue
        c = members[0].config
        sizes = (c.get("model") or {}).get("table_sizes") or []
        label = f"{suite}: {c.get('precision')}, {len(sizes)} tables ({sum(sizes) / 1e6:.1f}M rows), batch {c.get('batch_size')}"
        for set_label in comparison.sets:
            cells = [r.cells.get(set_label) for r in members]
            # scaled down: all on one device (a case not comparable for another reason ran at full size)
            cells = [c if c is not None and _full_size(c) else None for c in cells]
            if not any(cell is not None and cell.value is not None for cell in cells):
                continue
            out.append(ScalingSeries(set_label, label, [r.config.get("gpus") for r in members],
                                     [cell.value if cell else None for cell in cells],
                                     [r.reference for r in members]))
    return out
