"""No built-in plugin's name decides behaviour in the core: what differs between plugins is a capability a
plugin declares (multi-hot, its own optimizer, the families it serves, the devices a telemetry source
reads), never ``if name == ...`` under ``dlrmbench/``. The allow-list holds the few places where a name
is a default, a rule of MLPerf's, a core implementation a built-in plugin wraps, or old result files."""

from __future__ import annotations

import ast
from pathlib import Path

from dlrmbench.plugins import get_registry
from tests.conftest import REPO

ORDINARY_WORDS = {"dlrmbench", "split", "binary", "host"}
"""Built-in names that are also ordinary identifiers in the core (the project, a data layout, the machine)."""

ALLOWED: dict[tuple[str, str], str] = {
    ("dlrmbench/config/schema.py", "dlrm"): "the default family, named where a suite names none",
    ("dlrmbench/config/schema.py", "eager"): "DEFAULT_PLUGINS: the default family's defaults",
    ("dlrmbench/config/schema.py", "joint"): "DEFAULT_PLUGINS",
    ("dlrmbench/config/schema.py", "dot"): "DEFAULT_PLUGINS",
    ("dlrmbench/config/schema.py", "synthetic"): "DEFAULT_PLUGINS",
    ("dlrmbench/config/schema.py", "sgd"): "DEFAULT_PLUGINS",
    ("dlrmbench/config/schema.py", "adagrad"): "MLPerf's dlrm_dcnv2 rules name the reference's optimizer",
    ("dlrmbench/config/schema.py", "dcnv2"): "MLPerf's dlrm_dcnv2 closed rules name the reference's interaction",
    ("dlrmbench/config/schema.py", "torchrec_dmp"): "distributed.torchrec_sharding is that topology's option",
    ("dlrmbench/distributed/torchrec_dmp.py", "torchrec"): "the TorchRec library's logger (silenced in plan previews), not the plugin",
    ("dlrmbench/mlperf/dcnv2_log.py", "adagrad"): "MLPerf's dlrm_dcnv2 log names the reference's optimizer",
    ("dlrmbench/mlperf/closed.py", "adagrad"): "MLPerf's closed division: the reference's optimizer",
    ("dlrmbench/mlperf/closed.py", "dcnv2"): "MLPerf's closed division: the reference's interaction",
    ("dlrmbench/workload/mlperf_log.py", "sgd"): "MLPerf's dlrm log names the reference's optimizer (opt_name)",
    ("dlrmbench/workload/mlperf_log.py", "dlrm"): "MLPerf's benchmark name",
    ("dlrmbench/export/serve_mode.py", "dlrm"): "the served model's name in a Triton repository",
    ("dlrmbench/export/exporter.py", "dlrm"): "the exported model's default name",
    ("dlrmbench/model/interactions.py", "dot"): "the core's interaction modules, which the built-in plugins wrap",
    ("dlrmbench/model/interactions.py", "cat"): "the core's interaction modules",
    ("dlrmbench/model/interactions.py", "dcnv2"): "the core's interaction modules",
    ("dlrmbench/export/serving_model.py", "dot"): "the serving graph rebuilds the core's stock interaction modules",
    ("dlrmbench/export/serving_model.py", "cat"): "the serving graph rebuilds the core's stock interaction modules",
    ("dlrmbench/export/source.py", "eager"): "a model rebuilt from a checkpoint for export runs on the eager backend",
    ("dlrmbench/results/compare.py", "synthetic"): "result files written before auc_comparable existed",
    ("dlrmbench/data/validation/inspect_mlperf.py", "mlperf_npy"): "the format's name in inspect's report",
}


def builtin_names() -> set[str]:
    registry = get_registry()
    return {name for specs in registry.specs.values() for name, spec in specs.items()
            if spec.source.startswith("dlrmbench ")} - ORDINARY_WORDS


def name_uses(root: Path, names: set[str], base: Path = REPO) -> set[tuple[str, str]]:
    """(file relative to ``base``, name) of every string constant under ``root`` that is one of ``names``."""
    found = set()
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names:
                found.add((str(path.relative_to(base)), node.value))
    return found


def test_no_builtin_plugin_name_is_used_in_the_core_outside_the_allow_list() -> None:
    names = builtin_names()
    assert {"joint", "torchrec_fused", "dcnv2", "synthetic", "nvml", "torchrec_dmp", "data_parallel"} <= names
    unexpected = name_uses(REPO / "dlrmbench", names) - set(ALLOWED)
    assert not unexpected, f"built-in plugin names used in the core: {sorted(unexpected)}; declare a capability"


def test_the_allow_list_has_no_stale_entries() -> None:
    stale = set(ALLOWED) - name_uses(REPO / "dlrmbench", builtin_names())
    assert not stale, f"allow-listed but no longer used: {sorted(stale)}"


def test_the_check_finds_a_name(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text("def f(case):\n    return case.embedding.name == 'joint'  # 'eager'\n")
    assert name_uses(tmp_path, {"joint", "eager"}, tmp_path) == {("m.py", "joint")}
