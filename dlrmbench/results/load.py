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
from dlrmbench.results.stale import settle_running
from dlrmbench.safe_text import one_line_names, shown, shown_json

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class ResultSet:
    """One run directory: its manifest and case results."""

    path: Path
    manifest: RunManifest
    results: list[CaseResult] = field(default_factory=list)
    distinct_label: str | None = None  # set when another set carries the same suite/run id

    @property
    def label(self) -> str:
        return self.distinct_label or f"{self.manifest.suite}/{self.manifest.run_id}"


@dataclass
class Loaded:
    sets: list[ResultSet]
    problems: list[str]


MAX_RESULT_BYTES = 64 << 20  # a result file is kilobytes; refuse what cannot be one before reading it


def _read_json(path: Path) -> Any:
    """Parse one result file; standard JSON, and the NaN/Infinity literals that old versions wrote."""
    if not path.is_file():  # a FIFO or device named *.json would block or never end
        raise ValueError("not a regular file")
    size = path.stat().st_size
    if size > MAX_RESULT_BYTES:
        raise ValueError(f"{size:,} bytes; a result file is at most {MAX_RESULT_BYTES >> 20} MiB")
    return shown_json(path.read_text(encoding="utf-8"))  # names and text shown later cannot act on a terminal


def _describe(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        return f"not a dlrmbench result: {loc}: {first['msg']} ({exc.error_count()} problem(s))"
    if isinstance(exc, json.JSONDecodeError):
        return f"not valid JSON: {exc.msg} at line {exc.lineno}"
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text (byte {exc.start})"
    if isinstance(exc, ValueError):
        return f"not a dlrmbench result: {exc}"
    if isinstance(exc, RecursionError):
        return "nested too deeply to be a dlrmbench result"
    return f"{type(exc).__name__}: {exc}"


_NUMBER = (int, float)
# Fields of a recorded case config that compare and report read, with the types they must have.
_CONFIG_TYPES: dict[str, tuple[type, ...]] = {
    "mode": (str,), "device": (str,), "precision": (str,), "batch_size": (int,), "gpus": (int,),
    "processes": (int,), "comparable": (bool,), "reference": (dict,), "model": (dict,), "tags": (dict,),
    "backend": (dict, str), "embedding": (dict, str), "dataset": (dict, str),
}
_REFERENCE_TYPES: dict[str, tuple[type, ...]] = {
    "throughput": _NUMBER, "auc": _NUMBER, "source": (str,), "inference_throughput": (dict,),
    "serving_throughput": _NUMBER,
}


def _type_problem(where: str, value: Any, types: tuple[type, ...]) -> str | None:
    if value is None or (isinstance(value, types) and not (isinstance(value, bool) and bool not in types)):
        return None
    names = " or ".join(t.__name__ for t in types)
    return f"{where} is {type(value).__name__} {str(value)[:40]!r}, expected {names}"


def shape_problem(result: CaseResult) -> str | None:
    """Why ``result`` cannot be compared or reported (a field of the wrong type), or None.

    The models check the top level; the recorded ``config`` is free-form, so the fields that
    compare and report read are checked here, once, instead of crashing them later.
    """
    config = result.config
    for key, types in _CONFIG_TYPES.items():
        problem = _type_problem(f"config.{key}", config.get(key), types)
        if problem:
            return problem
    for key in ("backend", "embedding", "dataset"):
        ref = config.get(key)
        if isinstance(ref, dict):
            problem = _type_problem(f"config.{key}.name", ref.get("name"), (str,))
            if problem:
                return problem
    reference = config.get("reference") or {}
    for key, types in _REFERENCE_TYPES.items():
        problem = _type_problem(f"config.reference.{key}", reference.get(key), types)
        if problem:
            return problem
    for size, value in (reference.get("inference_throughput") or {}).items():
        if not str(size).isdigit():
            return f"config.reference.inference_throughput key {str(size)[:20]!r} is not a batch size"
        problem = _type_problem(f"config.reference.inference_throughput.{size}", value, _NUMBER)
        if problem:
            return problem
    sizes = (config.get("model") or {}).get("table_sizes")
    if sizes is not None and not (isinstance(sizes, list) and all(isinstance(s, int) for s in sizes)):
        return "config.model.table_sizes must be a list of integers"
    for name, rows in (("evaluations", result.evaluations), ("inference", result.inference)):
        for i, row in enumerate(rows):
            for key, value in row.items():
                if name == "inference" and key in _LATENCY_VARIANTS:
                    problem = _latency_problem(f"{name}[{i}].{key}", value)
                else:
                    problem = _type_problem(f"{name}[{i}].{key}", value, (*_NUMBER, str, bool))
                if problem:
                    return problem
    return None


# An inference record holds one latency summary per variant: numbers, and the list of step times.
_LATENCY_VARIANTS = ("end_to_end", "device_only")


def _latency_problem(where: str, summary: Any) -> str | None:
    problem = _type_problem(where, summary, (dict,))
    if problem or summary is None:
        return problem
    for key, value in summary.items():
        if key == "step_times_s":
            if not (isinstance(value, list) and all(isinstance(t, _NUMBER) and not isinstance(t, bool) for t in value)):
                return f"{where}.step_times_s must be a list of numbers"
            continue
        problem = _type_problem(f"{where}.{key}", value, _NUMBER)
        if problem:
            return problem
    return None


def manifest_problem(manifest: RunManifest) -> str | None:
    """Why the manifest's environment cannot be read by compare, or None."""
    env = manifest.environment
    gpus = env.get("gpus")
    if gpus is not None and not (isinstance(gpus, list) and all(isinstance(g, dict) for g in gpus)):
        return "environment.gpus must be a list of mappings"
    problem = _type_problem("environment.packages", env.get("packages"), (dict,))
    return problem


def load_run(run_dir: Path, problems: list[str]) -> ResultSet | None:
    """Load one run directory; append a message to ``problems`` for every unreadable file."""
    manifest_path = run_dir / "run.json"
    try:
        manifest = RunManifest.model_validate(_read_json(manifest_path))
        one_line_names(manifest)
        problem = manifest_problem(manifest)
        if problem:
            raise ValueError(problem)
    except Exception as exc:
        problems.append(f"{manifest_path}: {_describe(exc)}; skipped this result set")
        return None
    note = settle_running(manifest, manifest_path)
    if note:
        problems.append(note)
    result_set = ResultSet(path=run_dir, manifest=manifest)
    files = sorted((run_dir / "cases").glob("*.json")) if (run_dir / "cases").is_dir() else []
    for file in files:
        try:
            result = CaseResult.model_validate(_read_json(file))
            one_line_names(result)
            problem = shape_problem(result)
            if problem:
                raise ValueError(problem)
            result_set.results.append(result)
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
    sets = _distinct(sets, problems)
    if not sets:
        where = ", ".join(str(p) for p in paths)
        detail = ("; " + "; ".join(problems)) if problems else ""
        raise UserError(f"{where}: no dlrmbench results found (run 'dlrmbench run SUITE' first){detail}")
    return Loaded(sets=sets, problems=problems)


def _fingerprint(result_set: ResultSet) -> str:
    import hashlib

    digest = hashlib.sha256(result_set.manifest.model_dump_json().encode())
    for result in sorted(result_set.results, key=lambda r: (r.case, r.repeat)):
        digest.update(result.model_dump_json().encode())
    return digest.hexdigest()


def _distinct(sets: list[ResultSet], problems: list[str]) -> list[ResultSet]:
    """Result sets identified by location and content, never pooled by their suite/run id alone.

    A byte-for-byte copy of a set found elsewhere (a copied results folder) is reported and
    dropped; different sets that carry the same suite/run id are kept apart, each labelled with
    its location, and reported.
    """
    groups: dict[str, list[ResultSet]] = {}
    for result_set in sets:
        groups.setdefault(result_set.label, []).append(result_set)
    dropped: set[int] = set()
    for label, same in groups.items():
        unique: dict[str, ResultSet] = {}
        for result_set in same:
            fingerprint = _fingerprint(result_set)
            if fingerprint in unique:
                problems.append(f"{result_set.path}: a copy of {unique[fingerprint].path} (same suite/run id and "
                                "content); counted once, skipped")
                dropped.add(id(result_set))
            else:
                unique[fingerprint] = result_set
        if len(unique) > 1:
            _label_apart(label, list(unique.values()), problems)
    return [s for s in sets if id(s) not in dropped]


def _label_apart(label: str, same: list[ResultSet], problems: list[str]) -> None:
    """Label each of ``same`` (different sets sharing the suite/run id ``label``) by its location, and say so
    once in ``problems``."""
    places = ", ".join(str(s.path) for s in same)
    note = (f"{len(same)} different result sets carry the same suite/run id {label} ({places}); each is its own "
            "column, labelled by its location (label@path), never pooled as repeats")
    if note not in problems:
        problems.append(note)
    for result_set in same:
        result_set.distinct_label = f"{label}@{shown(str(result_set.path), newlines=False)}"


def load_with_baseline(paths: list[Path], baseline: Path | None) -> tuple[Loaded, ResultSet | None]:
    """Result sets under ``paths`` plus the one run directory ``baseline``, which is put first.

    The baseline read again under ``paths`` (the same folder, or the same run in an exported table) is
    counted once; any other set, even one that carries the baseline's suite/run id, is its own column,
    every set labelled distinctly. Raises UserError when ``baseline`` holds no result set or several.
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
    for result_set in [base_set, *others]:
        result_set.distinct_label = None
    sets = [base_set, *others]
    shared: dict[str, list[ResultSet]] = {}
    for result_set in sets:
        shared.setdefault(result_set.label, []).append(result_set)
    for label, same in shared.items():
        if len(same) > 1:
            _label_apart(label, same, loaded.problems)
    loaded.sets = sets
    return loaded, base_set


def _content(result_set: ResultSet) -> list[tuple[Any, ...]]:
    """What a result set measured: (case, repeat, status, metric key, value) for every metric."""
    return sorted((r.case, r.repeat, r.status, key, repr(m.value)) for r in result_set.results
                  for key, m in r.metrics.items())


def same_result_set(a: ResultSet, b: ResultSet) -> bool:
    """The same run, read from the same folder or once from a folder and once from an exported table:
    the same place, or the same suite, run id and start time *and* the same measured values. A copy
    whose numbers were changed is a different set."""
    if a.path.resolve() == b.path.resolve():
        return True
    ma, mb = a.manifest, b.manifest
    return (ma.suite, ma.run_id, ma.started_at) == (mb.suite, mb.run_id, mb.started_at) and _content(a) == _content(b)


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
