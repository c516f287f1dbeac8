"""Read LoadGen's own files: the summary's numbers and verdict, the detail log's MLLOG keys.

``mlperf_log_summary.txt`` is ``key : value`` lines: the scenario's metric ("Samples per second" for
Offline, "Completed samples per second" for Server, "90.0th percentile latency (ns)" for SingleStream,
"99.0th percentile latency (ns)" for MultiStream), "Result is : VALID|INVALID" followed by one
``... satisfied : Yes|NO`` line per condition, latency statistics in ns and the test parameters.
``mlperf_log_detail.txt`` is ``:::MLLOG {json}`` lines, one key each (``result_validity``,
``loadgen_version``, ``num_errors``, ...). Nothing here re-computes what LoadGen decided.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlrmbench.errors import UserError

SUMMARY, DETAIL = "mlperf_log_summary.txt", "mlperf_log_detail.txt"
#: Summary latency lines, in ns: (summary label, our name).
LATENCY_LINES = (("Min latency (ns)", "min"), ("Max latency (ns)", "max"), ("Mean latency (ns)", "mean"),
                 ("50.00 percentile latency (ns)", "p50"), ("90.00 percentile latency (ns)", "p90"),
                 ("95.00 percentile latency (ns)", "p95"), ("97.00 percentile latency (ns)", "p97"),
                 ("99.00 percentile latency (ns)", "p99"), ("99.90 percentile latency (ns)", "p99.9"))
_LINE = re.compile(r"^\s*([^:]+?)\s*:\s*(.*?)\s*$")
_ESTIMATE = re.compile(r"Early stopping ([0-9.]+)th percentile estimate: *([0-9]+)")


@dataclass
class Summary:
    """What ``mlperf_log_summary.txt`` says."""

    scenario: str
    mode: str
    valid: bool | None
    unmet: list[str]                    # the conditions answered NO (LoadGen's reasons for INVALID)
    samples_per_s: float | None         # Offline samples/s; Server completed samples/s
    scheduled_samples_per_s: float | None
    latency_ms: dict[str, float]        # min, max, mean, p50 ... p99.9
    scenario_latency_ms: float | None   # SingleStream p90 / MultiStream p99 as reported
    early_stopping_ms: dict[str, float] = field(default_factory=dict)  # "90.0" -> estimate
    recommendations: list[str] = field(default_factory=list)
    parameters: dict[str, str] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        if self.valid is None:
            return "no result line"
        return "VALID" if self.valid else "INVALID (" + "; ".join(self.unmet or ["no reason given"]) + ")"

    def record(self) -> dict[str, Any]:
        """Flat (a result's inference records hold numbers, strings and booleans): ``latency_p99_ms``,
        ``early_stopping_p90_ms``, the unmet conditions and recommendations joined."""
        out: dict[str, Any] = {"scenario": self.scenario, "mode": self.mode, "valid": self.valid,
                               "verdict": self.verdict, "unmet": "; ".join(self.unmet),
                               "samples_per_s": self.samples_per_s,
                               "scheduled_samples_per_s": self.scheduled_samples_per_s,
                               "scenario_latency_ms": self.scenario_latency_ms,
                               "recommendations": " | ".join(self.recommendations),
                               "target_qps": _number(self.parameters.get("target_qps"))}
        out.update({f"latency_{q}_ms": ms for q, ms in self.latency_ms.items()})
        out.update({f"early_stopping_p{p.removesuffix('.0')}_ms": ms for p, ms in self.early_stopping_ms.items()})
        return out


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def parse_summary(text: str) -> Summary:
    """The fields of a summary file's text (see the module docstring)."""
    values: dict[str, str] = {}
    unmet: list[str] = []
    recommendations: list[str] = []
    estimates: dict[str, float] = {}
    section = "results"
    parameters: dict[str, str] = {}
    in_recommendations = False
    for line in text.splitlines():
        if line.startswith("Test Parameters Used"):
            section = "parameters"
        if line.startswith("Recommendations:"):
            in_recommendations = True
            continue
        if in_recommendations:
            if line.startswith(" * "):
                recommendations.append(line[3:].strip())
                continue
            in_recommendations = False
        estimate = _ESTIMATE.search(line)
        if estimate:
            estimates[estimate.group(1)] = int(estimate.group(2)) / 1e6
            continue
        match = _LINE.match(line)
        if not match:
            continue
        key, value = match.group(1), match.group(2)
        if section == "parameters":
            parameters[key] = value
            continue
        if key.endswith("satisfied") and value.upper() == "NO":
            unmet.append(key.replace(" satisfied", "") + " not met")
        values.setdefault(key, value)
    result = values.get("Result is")
    scenario_latency = next((int(v) / 1e6 for k, v in values.items()
                             if re.fullmatch(r"[0-9.]+th percentile latency \(ns\)", k)), None)
    samples = values.get("Samples per second") or values.get("Completed samples per second")
    return Summary(
        scenario=values.get("Scenario", ""), mode=values.get("Mode", ""),
        valid=None if result is None else result.upper() == "VALID", unmet=unmet,
        samples_per_s=_number(samples), scheduled_samples_per_s=_number(values.get("Scheduled samples per second")),
        latency_ms={name: int(values[label]) / 1e6 for label, name in LATENCY_LINES if label in values},
        scenario_latency_ms=scenario_latency, early_stopping_ms=estimates, recommendations=recommendations,
        parameters=parameters)


def read_summary(folder: Path) -> Summary:
    path = folder / SUMMARY
    if not path.is_file():
        raise UserError(f"{path}: LoadGen wrote no summary (did the test start?)")
    return parse_summary(path.read_text(errors="replace"))


def read_detail(folder: Path) -> dict[str, Any]:
    """Every MLLOG key of ``mlperf_log_detail.txt`` and its (last) value."""
    out: dict[str, Any] = {}
    path = folder / DETAIL
    if not path.is_file():
        return out
    for line in path.read_text(errors="replace").splitlines():
        if not line.startswith(":::MLLOG "):
            continue
        try:
            event = json.loads(line[len(":::MLLOG "):])
        except json.JSONDecodeError:
            continue
        out[event.get("key")] = event.get("value")
    return out
