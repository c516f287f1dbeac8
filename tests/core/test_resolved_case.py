"""The resolved case is what a worker receives: written once by the planner, read without the plugin
registry and without validating plugin options a second time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from dlrmbench import plugins as plugins_module
from dlrmbench.host import Host
from dlrmbench.plugin_api import KINDS, PluginOptions
from dlrmbench.plugins import get_registry
from dlrmbench.resolved import ResolvedCase, import_object, read_resolved_case, write_resolved_case
from dlrmbench.runner import isolate
from dlrmbench.runner.plan import plan
from dlrmbench.workload.reporter import parse_event
from tests.conftest import REPO
from tests.workload.helpers import tiny_case

HOST = Host(cpu_count=2, memory_bytes=2**34)


def _resolved(**overrides) -> ResolvedCase:
    (planned,) = plan([tiny_case(**overrides)], HOST, get_registry())
    assert planned.runnable, planned.skip_reason
    return planned.resolved


def test_the_planner_resolves_every_plugin_with_full_options_and_the_facts_a_worker_needs() -> None:
    resolved = _resolved()
    assert set(resolved.plugins) == set(KINDS) - {"topology", "telemetry"}  # one process; telemetry is the run's
    assert resolved.plugins["family"].name == "dlrm" and resolved.case.model.family == "dlrm"
    dataset = resolved.plugins["dataset"]
    assert dataset.name == "synthetic" and dataset.factory.startswith("dlrmbench_plugins.datasets")
    # every option written out, defaults included, in the plugin entry and in the case the result records
    assert dataset.options["labels"] == "teacher" and dataset.options["train_samples"] == 64
    assert resolved.case.dataset.options == dataset.options
    assert resolved.table_sizes == [7, 5, 3] and resolved.hotness is None
    assert resolved.launcher == "process" and resolved.world_size == 1
    assert resolved.auc_comparable is False and resolved.case.auc_comparable is False  # synthetic labels
    assert resolved.output_width(4, 4) == 4 + 4 * 3 // 2 + 1  # dot: the interaction plugin's own formula


def test_a_resolved_case_file_round_trips(tmp_path: Path) -> None:
    resolved = _resolved()
    text = write_resolved_case(resolved)
    path = tmp_path / "case.json"
    path.write_text(text)
    again = read_resolved_case(path)
    assert again == resolved
    assert write_resolved_case(again) == text
    assert type(again.options("dataset")) is type(resolved.options("dataset"))  # noqa: E721
    assert again.options("dataset").model_dump() == resolved.options("dataset").model_dump()


def test_the_worker_receives_the_planners_resolved_case_byte_for_byte(tmp_path: Path, monkeypatch) -> None:
    resolved = _resolved()
    copy = tmp_path / "received.json"
    monkeypatch.setattr(isolate, "worker_command", lambda case, case_file: [
        sys.executable, "-c", "import shutil, sys; shutil.copy(sys.argv[1], sys.argv[2])", str(case_file), str(copy)])
    outcome = isolate.run_isolated(resolved, lambda event: None)
    assert outcome.returncode == 0, outcome.log_tail
    assert copy.read_text() == write_resolved_case(resolved)


def test_plugin_options_are_validated_once_by_the_planner_and_the_worker_builds_without_the_registry(
        tmp_path: Path, monkeypatch) -> None:
    """Plan and run a case in this process with a spy on every options model's validation and on the
    registry: the planner validates each plugin's options once, the worker never again and never
    builds the registry."""
    import io

    from dlrmbench.runner.worker import run_case
    from dlrmbench.workload.reporter import Reporter

    validated: list[str] = []
    original = BaseModel.model_validate.__func__  # type: ignore[attr-defined]

    def spy(cls, obj, *args, **kwargs):
        if issubclass(cls, PluginOptions):
            validated.append(cls.__name__)
        return original(cls, obj, *args, **kwargs)

    monkeypatch.setattr(BaseModel, "model_validate", classmethod(spy))
    resolved = _resolved(name="validated-once", seed=11)
    plugin_kinds = len(resolved.plugins) - 1  # the family's configuration is the case's own `model:` block
    assert len(validated) == plugin_kinds  # one validation per plugin, in the planner

    def no_registry(*args, **kwargs):
        raise AssertionError("the worker built the plugin registry")

    monkeypatch.setattr(plugins_module, "make_manager", no_registry)
    monkeypatch.setattr(plugins_module, "_cached", None)
    stream = io.StringIO()
    run_case(read_resolved_case(_write(resolved, tmp_path / "once.json")),
             Reporter(stream))
    events = [e for e in map(parse_event, stream.getvalue().splitlines()) if e]
    assert events[-1]["event"] == "result" and events[-1]["metrics"]["train_throughput"]["value"] > 0
    assert len(validated) == plugin_kinds  # nothing validated again downstream


def _write(resolved: ResolvedCase, path: Path) -> Path:
    path.write_text(write_resolved_case(resolved))
    return path


def _run_worker(case_file: Path) -> subprocess.CompletedProcess:
    # No entry points are loaded in the worker: had it built the registry, no dataset would be known.
    env = {**os.environ, "DLRMBENCH_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "dlrmbench.runner.worker", str(case_file)], capture_output=True,
                          text=True, timeout=300, env=env, cwd=REPO)


def test_a_worker_without_any_registered_plugin_runs_a_resolved_case_with_options_it_never_revalidates(
        tmp_path: Path) -> None:
    resolved = _resolved(name="no-revalidation")
    # An option value the planner would refuse (signal must be > 0): the worker constructs it as given.
    resolved.plugins["dataset"].options["signal"] = -1.0
    options_model = import_object(resolved.plugins["dataset"].options_model)
    with pytest.raises(ValidationError, match="greater than 0"):
        options_model.model_validate(resolved.plugins["dataset"].options)
    assert resolved.options("dataset").signal == -1.0
    done = _run_worker(_write(resolved, tmp_path / "case.json"))
    events = [e for e in map(parse_event, done.stdout.splitlines()) if e]
    assert done.returncode == 0, done.stderr[-3000:]
    assert events[-1]["event"] == "result", events[-1]
    assert events[-1]["metrics"]["train_steps"]["value"] == 64 // 8


def test_a_worker_given_a_bare_case_file_names_the_file_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "old.json"
    path.write_text(tiny_case().model_dump_json())
    done = _run_worker(path)
    assert done.returncode == 2
    assert f"{path}: not a resolved case file (dlrmbench.resolved_case/1)" in done.stderr
    assert "dlrmbench plan SUITE --case-files DIR" in done.stderr and "Traceback" not in done.stderr
    json.loads(path.read_text())  # left untouched


def test_constructed_options_rebuild_nested_models_inside_lists_and_tuples():
    from dlrmbench.resolved import construct_options

    class Task(PluginOptions):
        name: str
        bit: int = 1

    class Options(PluginOptions):
        tasks: tuple[Task, ...] = ()
        weights: tuple[int, ...] = ()
        names: list[str] = []

    data = Options(tasks=(Task(name="a"), Task(name="b", bit=2)), weights=(1, 2), names=["x"]).model_dump(mode="json")
    built = construct_options(Options, json.loads(json.dumps(data)))
    assert [(t.name, t.bit) for t in built.tasks] == [("a", 1), ("b", 2)]
    assert isinstance(built.tasks, tuple) and built.weights == (1, 2) and built.names == ["x"]
