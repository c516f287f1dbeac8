"""Machine-readable output of ``run --json``, ``plan --json``, ``verify --json`` and ``validate --json``.

Every document is one JSON object with ``schema`` (its name) and ``schema_version`` (an integer, raised
whenever a field changes meaning or disappears; new fields may be added within a version). The fields
are documented in the README ("Machine-readable output") and :data:`SCHEMAS` lists the top-level keys
a test checks against that documentation.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

SCHEMAS: dict[str, tuple[int, tuple[str, ...]]] = {
    "dlrmbench.run-summary": (1, ("schema", "schema_version", "suite", "run_id", "run_dir", "status", "cases")),
    "dlrmbench.plan": (1, ("schema", "schema_version", "suite", "file", "cases")),
    "dlrmbench.verify": (1, ("schema", "schema_version", "settings", "ok", "reasons", "checks")),
    "dlrmbench.validate": (1, ("schema", "schema_version", "valid", "suites")),
    "dlrmbench.suites": (1, ("schema", "schema_version", "suites")),
}


def document(schema: str, **fields: Any) -> str:
    """The JSON text of one document of ``schema`` (keys in the documented order)."""
    version, keys = SCHEMAS[schema]
    payload = {"schema": schema, "schema_version": version, **fields}
    missing = [k for k in keys if k not in payload]
    if missing:
        raise ValueError(f"{schema}: missing {missing}")
    return json.dumps(_json_safe(payload), indent=2, default=str, allow_nan=False) + "\n"


def _json_safe(value: Any) -> Any:
    """NaN and infinities become null (JSON has neither); tuples become lists."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return _finite(value)


def _finite(value: Any) -> Any:
    import math

    return None if isinstance(value, float) and not math.isfinite(value) else value


def run_summary(suite: str, run_id: str, run_dir: Path, status: str, results: list[Any]) -> str:
    """``dlrmbench.run-summary``: every case's status, metrics (name, batch size, unit, direction) and warnings."""
    from dlrmbench.results.noise import noise_warnings

    cases = []
    for r in results:
        cases.append({
            "case": r.case, "repeat": r.repeat, "status": r.status, "reason": r.reason,
            "duration_s": _finite(r.duration_s), "comparable": bool(r.config.get("comparable", True)),
            "metrics": [{"name": m.name or key, "batch_size": m.batch_size, "concurrency": m.concurrency,
                         "value": _finite(m.value), "unit": m.unit,
                         "higher_is_better": m.higher_is_better} for key, m in r.metrics.items()],
            "warnings": noise_warnings(r),
        })
    return document("dlrmbench.run-summary", suite=suite, run_id=run_id, run_dir=str(run_dir), status=status,
                    cases=cases)


def plan_document(suite: str, file: Path, planned: list[Any], sharding: dict[str, Any] | None = None) -> str:
    """``dlrmbench.plan``: every case's resolved identity and the verdict (run, or skip with the reason); with
    ``sharding`` (``dlrmbench plan``: case -> its topology's per-table plan, or why it cannot be made) the
    case's ``sharding_plan`` rows or ``sharding_plan_reason``."""
    cases = []
    for item in planned:
        c = item.case
        entry = {
            "case": c.name, "mode": c.mode, "device": c.device, "gpus": c.gpus, "processes": c.processes,
            "precision": c.precision, "backend": c.backend.name, "embedding": c.embedding.name,
            "dataset": c.dataset.name, "batch_size": c.batch_size, "runnable": item.runnable,
            "skip_reason": item.skip_reason, "comparable": c.comparable, "not_comparable": c.not_comparable,
        }
        answer = (sharding or {}).get(c.name)
        if answer is not None:
            entry["sharding_plan" if isinstance(answer, list) else "sharding_plan_reason"] = answer
        cases.append(entry)
    return document("dlrmbench.plan", suite=suite, file=str(file), cases=cases)


LOCATED = re.compile(r"^(?:line (?P<line>\d+): )?(?P<field>[^:\s][^:]*?): (?P<message>.+)$", re.S)
FIELD_PATH = re.compile(r"^[A-Za-z_][\w-]*(\[\d+\]|\.[A-Za-z_][\w-]*)*$")


def problem_record(file: Path, problem: str) -> dict[str, Any]:
    """One validation problem as ``{file, line, field, message}`` (line and field None when unknown)."""
    match = LOCATED.match(problem.strip())
    if match and FIELD_PATH.match(match.group("field")):
        return {"file": str(file), "line": int(match.group("line")) if match.group("line") else None,
                "field": match.group("field"), "message": match.group("message")}
    line = re.search(r"\bline (\d+)", problem)
    return {"file": str(file), "line": int(line.group(1)) if line else None, "field": None, "message": problem}
