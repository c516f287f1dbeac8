"""Reading result sets back: every ``run.json`` under a path, its case files, and pandas frames.

A malformed file is reported and skipped; the other results are still loaded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from dlrmbench.errors import UserError
from dlrmbench.results.schema import CaseResult, RunManifest

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class ResultSet:
    """One run directory: its manifest and case results."""

    path: Path
    manifest: RunManifest
    results: list[CaseResult] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.manifest.suite}/{self.manifest.run_id}"


@dataclass
class Loaded:
    sets: list[ResultSet]
    problems: list[str]


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _describe(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        return f"not a dlrmbench result: {loc}: {first['msg']} ({exc.error_count()} problem(s))"
    if isinstance(exc, json.JSONDecodeError):
        return f"not valid JSON: {exc.msg} at line {exc.lineno}"
    return f"{type(exc).__name__}: {exc}"


def load_run(run_dir: Path, problems: list[str]) -> ResultSet | None:
    """Load one run directory; append a message to ``problems`` for every unreadable file."""
    manifest_path = run_dir / "run.json"
    try:
        manifest = RunManifest.model_validate(_read_json(manifest_path))
    except Exception as exc:
        problems.append(f"{manifest_path}: {_describe(exc)}; skipped this result set")
        return None
    result_set = ResultSet(path=run_dir, manifest=manifest)
    files = sorted((run_dir / "cases").glob("*.json")) if (run_dir / "cases").is_dir() else []
    for file in files:
        try:
            result_set.results.append(CaseResult.model_validate(_read_json(file)))
        except Exception as exc:
            problems.append(f"{file}: {_describe(exc)}; skipped")
    return result_set


def find_runs(paths: list[Path]) -> list[Path]:
    runs: list[Path] = []
    for path in paths:
        if not path.exists():
            raise UserError(f"{path}: no such file or directory (give a results directory, e.g. results/)")
        if path.is_file() and path.name == "run.json":
            runs.append(path.parent)
        elif path.is_dir():
            runs.extend(sorted(p.parent for p in path.rglob("run.json")))
        else:
            raise UserError(f"{path}: not a results directory, run.json, or .parquet/.duckdb results file")
    return sorted(dict.fromkeys(runs), key=lambda p: str(p))


def load_results(paths: list[Path]) -> Loaded:
    """Every result set under ``paths``; raises UserError when there is none at all."""
    from dlrmbench.results.table import is_table_file, read_sets

    problems: list[str] = []
    folders = [p for p in paths if not is_table_file(p)]
    sets = [s for s in (load_run(run, problems) for run in find_runs(folders)) if s is not None]
    for table in (p for p in paths if is_table_file(p)):  # `dlrmbench results export` files
        if not table.is_file():
            raise UserError(f"{table}: no such file")
        sets.extend(ResultSet(path=where, manifest=manifest, results=results)
                    for where, manifest, results in read_sets(table, problems))
    if not sets:
        where = ", ".join(str(p) for p in paths)
        detail = ("; " + "; ".join(problems)) if problems else ""
        raise UserError(f"{where}: no dlrmbench results found (run 'dlrmbench run SUITE' first){detail}")
    return Loaded(sets=sets, problems=problems)


def load_with_baseline(paths: list[Path], baseline: Path | None) -> tuple[Loaded, ResultSet | None]:
    """Result sets under ``paths`` plus the one run directory ``baseline``, which is put first.

    Raises UserError when ``baseline`` holds no result set or several.
    """
    loaded = load_results(paths)
    if baseline is None:
        return loaded, None
    base_loaded = load_results([baseline])
    if len(base_loaded.sets) != 1:
        raise UserError(f"--baseline {baseline}: holds {len(base_loaded.sets)} result sets; "
                        "give one run directory (results/<suite>/<run-id>)")
    base_set = base_loaded.sets[0]
    loaded.problems.extend(p for p in base_loaded.problems if p not in loaded.problems)
    others = [s for s in loaded.sets if not same_result_set(s, base_set)]
    loaded.sets = [base_set, *others]
    return loaded, base_set


def same_result_set(a: ResultSet, b: ResultSet) -> bool:
    """The same run, read from the same folder or once from a folder and once from an exported table."""
    if a.path.resolve() == b.path.resolve():
        return True
    ma, mb = a.manifest, b.manifest
    return (ma.suite, ma.run_id, ma.started_at) == (mb.suite, mb.run_id, mb.started_at)


def to_frame(sets: list[ResultSet]) -> "pd.DataFrame":
    """A tidy frame: one row per (result set, case, repeat, metric), identity as separate columns."""
    import pandas as pd

    rows = []
    for result_set in sets:
        for result in result_set.results:
            identity = {
                "result_set": result_set.label, "suite": result.suite, "run_id": result.run_id,
                "case": result.case, "repeat": result.repeat, "status": result.status,
                "mode": result.config.get("mode"), "device": result.config.get("device"),
                "precision": result.config.get("precision"), "batch_size": result.config.get("batch_size"),
                "backend": (result.config.get("backend") or {}).get("name"),
                "embedding": (result.config.get("embedding") or {}).get("name"),
                "dataset": (result.config.get("dataset") or {}).get("name"),
                "gpus": result.config.get("gpus"),
            }
            if not result.metrics:
                rows.append({**identity, "metric": None, "value": None, "unit": None, "higher_is_better": None})
            for name, m in result.metrics.items():
                rows.append({**identity, "metric": name, "value": m.value, "unit": m.unit,
                             "higher_is_better": m.higher_is_better})
    return pd.DataFrame(rows)
