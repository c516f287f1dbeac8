"""Result sets as one tidy table, in a Parquet file or a DuckDB database, and back.

``dlrmbench results export`` writes it; ``compare`` and ``report`` read it like a results folder, so a
team can keep its whole history in one queryable file. One row per value, with the identity as
columns (result set, suite, run id, case, repeat, status):

=============  ==================================================================================
kind           name / idx / value / text
=============  ==================================================================================
metric         metric name (``inference_throughput``); value, unit, higher_is_better, batch_size and
               concurrency (for a metric measured per batch size / number of clients, else empty)
step_time      idx = step; value in s (every measured step, the samples behind a throughput)
evaluation     field (auc, log_loss, samples, step, ...); idx = evaluation number; value
inference      field (batch_size, p50_ms, ...); idx = row of the latency sweep; value
config         dotted key of the resolved case config; value (numbers) or text
environment    dotted key of the environment fingerprint; value (numbers) or text
case_json      text = the whole case result file (so a read-back is exact); idx = its position
run_json       text = the result set's run.json (case is empty)
=============  ==================================================================================

Writing is atomic (Parquet: temp file + rename; DuckDB: one transaction that replaces the rows of
the exported result sets and keeps every other one).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from dlrmbench.errors import UserError
from dlrmbench.results.schema import CaseResult, RunManifest

if TYPE_CHECKING:
    import pyarrow as pa

#: A result set as the loader holds it (duck-typed: `label`, `manifest`, `results`), so this module
#: does not import the loader (which imports this one).
ResultSetLike = Any

FORMATS = {".parquet": "parquet", ".duckdb": "duckdb"}
TABLE = "results"
#: (column, arrow type name) in table order.
COLUMNS = [
    ("result_set", "string"), ("suite", "string"), ("run_id", "string"), ("case", "string"),
    ("repeat", "int64"), ("status", "string"), ("kind", "string"), ("name", "string"), ("idx", "int64"),
    ("value", "float64"), ("text", "string"), ("unit", "string"), ("higher_is_better", "bool_"),
    ("batch_size", "int64"), ("concurrency", "int64"),
]
EXTRA = "pip install 'dlrmbench[results]'"


def is_table_file(path: Path) -> bool:
    """True for a file (existing or to be written) whose suffix names a table format."""
    return path.suffix.lower() in FORMATS and not path.is_dir()


def format_of(path: Path) -> str:
    """'parquet' or 'duckdb' from the file name; UserError otherwise."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UserError(f"{path}: give a file ending in .parquet or .duckdb")
    return fmt


def _flat(prefix: str, value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _flat(f"{prefix}.{k}" if prefix else str(k), v)
    else:
        yield prefix, value


def _number_or_text(value: Any) -> tuple[float | None, str | None]:
    if isinstance(value, bool) or value is None:
        return None, None if value is None else json.dumps(value)
    if isinstance(value, (int, float)):
        return float(value), None
    return None, value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def tidy_rows(sets: list[ResultSetLike]) -> list[dict[str, Any]]:
    """Every value of every result set as a row (see the module docstring)."""
    rows: list[dict[str, Any]] = []
    for s in sets:
        base = {"result_set": s.label, "suite": s.manifest.suite, "run_id": s.manifest.run_id}

        def add(case: str | None, repeat: int | None, status: str | None, kind: str, name: str | None = None,
                idx: int | None = None, value: float | None = None, text: str | None = None,
                unit: str | None = None, higher_is_better: bool | None = None, batch_size: int | None = None,
                concurrency: int | None = None) -> None:
            rows.append({**base, "case": case, "repeat": repeat, "status": status, "kind": kind, "name": name,
                         "idx": idx, "value": value, "text": text, "unit": unit, "higher_is_better": higher_is_better,
                         "batch_size": batch_size, "concurrency": concurrency})

        add(None, None, s.manifest.status, "run_json", text=s.manifest.model_dump_json())
        for position, r in enumerate(s.results):
            ident = (r.case, r.repeat, r.status)
            add(*ident, "case_json", idx=position, text=r.model_dump_json())
            for key, m in r.metrics.items():  # the name, with the batch size and clients as columns of their own
                add(*ident, "metric", m.name or key, value=m.value, unit=m.unit, higher_is_better=m.higher_is_better,
                    batch_size=m.batch_size, concurrency=m.concurrency)
            for i, t in enumerate(r.step_times_s):
                add(*ident, "step_time", "step_time", idx=i, value=t, unit="s")
            for kind, records in (("evaluation", r.evaluations), ("inference", r.inference)):
                for i, record in enumerate(records):
                    for key, v in _flat("", record):
                        number, text = _number_or_text(v)
                        add(*ident, kind, key, idx=i, value=number, text=text)
            for kind, tree in (("config", r.config), ("environment", r.environment)):
                for key, v in _flat("", tree):
                    number, text = _number_or_text(v)
                    add(*ident, kind, key, value=number, text=text)
    return rows


def _arrow_table(rows: list[dict[str, Any]]) -> "pa.Table":
    try:
        import pyarrow as pa
    except ImportError:
        raise UserError(f"exporting results needs pyarrow: {EXTRA}") from None
    schema = pa.schema([(name, getattr(pa, kind)()) for name, kind in COLUMNS])
    return pa.Table.from_pylist(rows, schema=schema)


def export(sets: list[ResultSetLike], path: Path) -> int:
    """Write (Parquet) or update (DuckDB) ``path`` with every result set; returns the rows written."""
    fmt = format_of(path)
    if not path.parent.is_dir():
        raise UserError(f"{path}: the directory {path.parent} does not exist")
    table = _arrow_table(tidy_rows(sets))
    if fmt == "parquet":
        import pyarrow.parquet as pq

        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            pq.write_table(table, tmp)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    else:
        _write_duckdb(table, path, [s.label for s in sets])
    return table.num_rows


def _duckdb() -> Any:
    try:
        import duckdb
    except ImportError:
        raise UserError(f"reading or writing a .duckdb file needs duckdb: {EXTRA}") from None
    return duckdb


def _write_duckdb(table: "pa.Table", path: Path, labels: list[str]) -> None:
    duckdb = _duckdb()
    sql_type = {"string": "VARCHAR", "int64": "BIGINT", "float64": "DOUBLE", "bool_": "BOOLEAN"}
    columns = ", ".join(f'"{name}" {sql_type[kind]}' for name, kind in COLUMNS)
    try:
        con = duckdb.connect(str(path))
    except duckdb.Error as exc:
        raise UserError(f"{path}: not a DuckDB database ({str(exc).splitlines()[0]})") from None
    try:
        con.execute("BEGIN TRANSACTION")
        con.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} ({columns})")
        present = {row[0] for row in con.execute(f"DESCRIBE {TABLE}").fetchall()}
        for name, kind in COLUMNS:  # a database written by an earlier version gains the new columns
            if name not in present:
                con.execute(f'ALTER TABLE {TABLE} ADD COLUMN "{name}" {sql_type[kind]}')
        con.execute(f"DELETE FROM {TABLE} WHERE result_set IN (SELECT unnest(?))", [labels])
        con.register("incoming", table)
        con.execute(f"INSERT INTO {TABLE} BY NAME SELECT * FROM incoming")
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    finally:
        con.close()


def _records(path: Path) -> list[tuple[str, str, str, int | None]]:
    """(kind, result_set, text, idx) of the run_json and case_json rows."""
    if format_of(path) == "parquet":
        try:
            import pyarrow.compute as pc
            import pyarrow.parquet as pq
        except ImportError:
            raise UserError(f"reading a .parquet results file needs pyarrow: {EXTRA}") from None
        try:
            table = pq.read_table(path, columns=["kind", "result_set", "text", "idx"])
        except Exception as exc:
            raise UserError(f"{path}: not a dlrmbench results table ({str(exc).splitlines()[0][:200]})") from None
        table = table.filter(pc.is_in(table["kind"], value_set=_pa_strings(["run_json", "case_json"])))
        return list(zip(*(table[c].to_pylist() for c in ("kind", "result_set", "text", "idx"))))
    duckdb = _duckdb()
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise UserError(f"{path}: not a DuckDB database ({str(exc).splitlines()[0]})") from None
    try:
        query = f"SELECT kind, result_set, text, idx FROM {TABLE} WHERE kind IN ('run_json', 'case_json')"
        return con.execute(query).fetchall()
    except duckdb.Error as exc:
        raise UserError(f"{path}: no dlrmbench results table ({str(exc).splitlines()[0]})") from None
    finally:
        con.close()


def _pa_strings(values: list[str]) -> Any:
    import pyarrow as pa

    return pa.array(values, pa.string())


def read_sets(path: Path, problems: list[str]) -> list[tuple[Path, RunManifest, list[CaseResult]]]:
    """(pseudo path, manifest, case results) of every result set stored in a table file, exactly as
    exported; bad records go to ``problems``."""
    sets: dict[str, tuple[Path, RunManifest, list[CaseResult]]] = {}
    cases: list[tuple[str, int, str]] = []
    for kind, label, text, idx in _records(path):
        if kind == "case_json":
            cases.append((label, idx if idx is not None else len(cases), text))
            continue
        try:
            sets[label] = (Path(f"{path}#{label}"), RunManifest.model_validate_json(text), [])
        except Exception as exc:
            problems.append(f"{path}: result set {label}: not a dlrmbench run manifest ({exc}); skipped")
    for label, _, text in sorted(cases, key=lambda c: (c[0], c[1])):
        if label not in sets:
            continue
        try:
            sets[label][2].append(CaseResult.model_validate_json(text))
        except Exception as exc:
            problems.append(f"{path}: a case of {label}: not a dlrmbench case result ({exc}); skipped")
    return [sets[k] for k in sorted(sets)]
