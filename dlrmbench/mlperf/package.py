"""``dlrmbench mlperf package RESULTS OUT``: an MLPerf Training submission tree from a result set.

Layout (what ``mlperf_logging.package_checker`` walks, reference/mlperf-logging.md section 9)::

    OUT/<org>/systems/<system>.json                       33 fields, from the recorded environment
    OUT/<org>/results/<system>/dlrm_dcnv2/result_N.txt    the MLLOG file of run N, byte for byte

``<org>`` and ``<system>`` come from the logs' ``submission_org`` and ``submission_platform``; the
division from their ``submission_division``. The package checker wants exactly 10 result files for
``dlrm_dcnv2`` (``benchmark_meta``), so a result set with another number of logs is refused. The tree
is written into a temporary folder next to OUT and renamed into place: nothing half-written.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlrmbench.errors import UserError
from dlrmbench.mlperf.dcnv2_log import EVAL_SAMPLES

BENCHMARK = "dlrm_dcnv2"
RUNS_REQUIRED = 10  # mlperf_logging.benchmark_meta: dlrm_dcnv2 result file count (training)
STATUS = {"research": "Research, Development, or Internal (RDI)", "onprem": "Available on-premise",
          "cloud": "Available cloud", "preview": "Preview"}
SPACES = str.maketrans({" ": "_"})  # "Big Org" -> Big_Org; every other character is checked by check_safe_name


@dataclass
class LogInfo:
    path: Path
    keys: dict[str, Any] = field(default_factory=dict)
    stop_status: str | None = None  # run_stop's metadata status: success, aborted; None when the run never stopped
    case: str = ""
    result: dict[str, Any] = field(default_factory=dict)  # the case's result file (status, config)


def read_log_keys(path: Path) -> LogInfo:
    """The first value of every key in an MLLOG file (raises UserError naming the file and line)."""
    info = LogInfo(path)
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise UserError(f"{path}: cannot read the MLPerf log ({exc.strerror})") from None
    for number, line in enumerate(lines, 1):
        if ":::MLLOG" not in line:
            continue
        try:
            record = json.loads(line.split(":::MLLOG", 1)[1])
        except json.JSONDecodeError:
            raise UserError(f"{path}:{number}: not a valid :::MLLOG JSON line") from None
        info.keys.setdefault(record.get("key"), record.get("value"))
        if record.get("key") == "run_stop":
            status = (record.get("metadata") or {}).get("status")
            info.stop_status = None if status is None else str(status)
    return info


def case_logs(results: Path) -> list[tuple[Path, str, dict[str, Any]]]:
    """(MLLOG file, case, case result) of every case of the result set that wrote one, in (case, repeat) order;
    a ``{run_dir}`` path is found inside ``results`` wherever the set has been moved."""
    from dlrmbench.config.paths import output_path

    manifest = results / "run.json"
    if not manifest.is_file():
        raise UserError(f"{results}: no run.json; give a result-set folder (results/<suite>/<run-id>)")
    try:
        entries = json.loads(manifest.read_text())["cases"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise UserError(f"{manifest}: not a dlrmbench run manifest ({exc})") from None
    paths: list[Path] = []
    found = []
    for entry in sorted(entries, key=lambda e: (e.get("case", ""), e.get("repeat", 0))):
        if not entry.get("file"):
            continue
        result_file = results / entry["file"]
        try:
            result = json.loads(result_file.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise UserError(f"{result_file}: cannot read the case result ({exc})") from None
        config = result.get("config", {})
        template = (config.get("mlperf_log") or {}).get("path")
        if not template:
            continue
        path = output_path(template, entry["case"], run_dir=results)
        if path in paths:
            raise UserError(f"{result_file}: repeat {entry.get('repeat', 0)} wrote its MLPerf log to {path}, the same "
                            "file as an earlier run (repeats of one case share it); run the 10 runs as 10 cases, "
                            "e.g. matrix: {seed: [1, 2, ..., 10]}, with {case} in mlperf_log.path")
        paths.append(path)
        found.append((path, entry["case"], {**result, "status": entry.get("status", result.get("status"))}))
    return found


def submission_problems(logs: list[LogInfo]) -> list[str]:
    """Why these runs are not a submission: scaled down, not ended ok, or stopped without reaching the target
    (the official package checker accepts such logs: it checks their form, not that they are a result)."""
    problems = []
    for log in logs:
        config = log.result.get("config") or {}
        if config.get("comparable") is False and not config.get("not_comparable"):
            problems.append(f"{log.case}: scaled down (--scale-down), not the benchmark")
        if log.result.get("status") not in (None, "ok"):
            problems.append(f"{log.case}: the case ended {log.result.get('status')}")
        if log.stop_status != "success":
            problems.append(f"{log.case}: run_stop status {log.stop_status or '(none: the run never stopped)'}; "
                            "a submitted run must reach the quality target")
    return problems


def closed_refusals(logs: list[LogInfo]) -> list[str]:
    """For every log that says closed: each reason its recorded case cannot be a closed result (``case: reason``;
    :func:`dlrmbench.mlperf.closed.closed_problems`, and the closed eval set)."""
    from pydantic import ValidationError

    from dlrmbench.config.schema import Case
    from dlrmbench.mlperf.closed import closed_problems

    refusals = []
    for log in logs:
        if log.keys.get("submission_division") != "closed":
            continue
        try:
            problems = closed_problems(Case.model_validate(log.result.get("config") or {}))
        except ValidationError as exc:
            problems = [f"its recorded case does not validate ({exc.errors()[0]['msg']})"]
        if log.keys.get("eval_samples") != EVAL_SAMPLES:
            problems.append(f"eval_samples {log.keys.get('eval_samples')} (closed: {EVAL_SAMPLES})")
        refusals += [f"{log.case}: {problem}" for problem in problems]
    return refusals


def relabel(line: str, names: dict[str, str]) -> str:
    """An MLLOG line with the value of a ``submission_org``/``submission_platform`` record replaced."""
    if ":::MLLOG" not in line:
        return line
    head, payload = line.split(":::MLLOG", 1)
    record = json.loads(payload)
    if record.get("key") not in names:
        return line
    record["value"] = names[record["key"]]
    return f"{head}:::MLLOG {json.dumps(record)}\n"


def system_description(org: str, system: str, division: str, status: str, environment: dict[str, Any]) -> dict[str, str]:
    """The 33-field system JSON, filled from the environment fingerprint (unknown fields left empty)."""
    gpus = environment.get("gpus") or []
    packages = environment.get("packages") or {}
    torch_version = packages.get("torch") or "unknown"
    memory = environment.get("memory_bytes")
    desc = {name: "" for name in (
        "host_processor_vcpu_count", "host_processor_frequency", "host_processor_caches",
        "host_processor_interconnect", "host_storage_type", "host_storage_capacity", "host_networking",
        "host_networking_topology", "host_memory_configuration", "accelerator_host_interconnect",
        "accelerator_frequency", "accelerator_on-chip_memories", "accelerator_memory_configuration",
        "accelerator_interconnect", "accelerator_interconnect_topology", "cooling", "hw_notes")}
    desc.update({
        "submitter": org, "division": division, "status": STATUS.get(status, status), "system_name": system,
        "number_of_nodes": "1", "host_processors_per_node": "1",
        "host_processor_model_name": environment.get("cpu") or "unknown",
        "host_processor_core_count": str(int(environment.get("cpu_count") or 0)),
        "host_memory_capacity": f"{memory / 2**30:.0f} GB" if memory else "",
        "accelerators_per_node": str(len(gpus)),
        "accelerator_model_name": gpus[0]["name"] if gpus else "none (CPU)",
        "accelerator_memory_capacity": f"{gpus[0]['memory_bytes'] / 2**30:.0f} GB" if gpus and gpus[0].get(
            "memory_bytes") else "",
        "framework": f"PyTorch {torch_version}, dlrmbench {environment.get('dlrmbench', '')}".strip(", "),
        "other_software_stack": ", ".join(f"{k} {v}" for k, v in sorted(packages.items()) if v and k != "torch"),
        "operating_system": environment.get("platform") or "",
        "sw_notes": f"python {environment.get('python', '')}; written by dlrmbench mlperf package",
    })
    return desc


def _folder_name(log: LogInfo, key: str) -> str:
    """The log's ``key`` as a folder name (spaces and the like become ``_``), refused if it is not a plain name."""
    from dlrmbench.safe_names import check_safe_name
    from dlrmbench.safe_text import plain_text

    try:
        return check_safe_name(str(log.keys.get(key)).translate(SPACES), key)
    except ValueError as exc:
        raise UserError(f"{log.path}: {key} cannot name a folder of the submission: {plain_text(str(exc))}; "
                        "set it to a plain name (the suite's mlperf_log options, or --org / --system)") from None


def write_package(results: Path, out: Path, org: str | None = None, system: str | None = None,
                  allow_invalid: bool = False) -> Path:
    """Write the submission tree for ``results`` into ``out`` (which must not exist or be empty).

    ``org`` and ``system`` replace the logs' ``submission_org`` and ``submission_platform`` (in the tree's
    names, the system description and those two lines of each copied log). Runs that are scaled down,
    did not end ok or never reached the target are refused unless ``allow_invalid``.
    """
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"{out}: exists and is not empty; give a new folder for the submission tree")
    from dlrmbench.results.store import check_output_dir

    check_output_dir(out, "OUT", "submission folder")
    logs = []
    for path, case, result in case_logs(results):
        log = read_log_keys(path)
        log.case, log.result = case, result
        if log.keys.get("submission_benchmark") == BENCHMARK:
            logs.append(log)
    if len(logs) != RUNS_REQUIRED:
        raise UserError(f"{results}: {len(logs)} {BENCHMARK} MLPerf logs found; a submission holds exactly "
                        f"{RUNS_REQUIRED} runs (10 cases, e.g. matrix: {{seed: [1, ..., 10]}}, each logging to "
                        "its own {case} path)")
    problems = submission_problems(logs)
    if problems and not allow_invalid:
        raise UserError(f"{results}: these runs are not an MLPerf result:\n  " + "\n  ".join(problems)
                        + "\nRun the submission suite (dlrmbench run mlperf-dlrmv2-submission) on the real data at "
                        "full scale; --allow-invalid writes the tree anyway (to test the tooling, never to submit)")
    refusals = closed_refusals(logs)  # a closed claim is never written when it is not true (not even --allow-invalid)
    if refusals:
        raise UserError(f"{results}: the logs say division closed, but these runs cannot be closed results:\n  "
                        + "\n  ".join(refusals) + "\nrerun them as closed runs, or with mlperf_log.division: open")
    names = {"submission_org": org, "submission_platform": system}
    names = {k: v for k, v in names.items() if v is not None}
    for log in logs:
        log.keys.update(names)
    for key in ("submission_org", "submission_platform", "submission_division", "submission_status"):
        values = {str(log.keys.get(key)) for log in logs}
        if len(values) != 1:
            raise UserError(f"{results}: the logs disagree on {key} ({', '.join(sorted(values))}); package runs "
                            "of one system and division")
    first = logs[0].keys
    org, system = (_folder_name(logs[0], key) for key in ("submission_org", "submission_platform"))
    environment = json.loads((results / "run.json").read_text()).get("environment", {})
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        (staging / org / "systems").mkdir(parents=True)
        desc = system_description(str(first["submission_org"]), str(first["submission_platform"]),
                                  str(first["submission_division"]), str(first["submission_status"]), environment)
        (staging / org / "systems" / f"{system}.json").write_text(json.dumps(desc, indent=4) + "\n")
        folder = staging / org / "results" / system / BENCHMARK
        folder.mkdir(parents=True)
        for number, log in enumerate(logs):
            if names:  # the submitter's names in place of what the suite wrote; every other byte as logged
                with open(log.path, encoding="utf-8", newline="") as source:
                    text = "".join(relabel(line, names) for line in source)
                (folder / f"result_{number}.txt").write_text(text, encoding="utf-8", newline="")
            else:
                shutil.copyfile(log.path, folder / f"result_{number}.txt")
        if out.exists():
            out.rmdir()
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out / org
