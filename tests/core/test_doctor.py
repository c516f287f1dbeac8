"""`dlrmbench doctor`: checks read from (fake) sysfs and NVML, the stored run-to-run variation, and `run`
recording labels, the machine, its state, plugin checkouts and the stored variation, repeats interleaved."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from dlrmbench.host import current_host
from dlrmbench.machine import checks, variation
from dlrmbench.results.schema import RunManifest
from dlrmbench.telemetry.environment import identity, machine_id
from tests.conftest import REPO, TINY_DEFAULTS, cli_env, run_cli


def _sys(tmp: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (tmp / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp / name).write_text(text)
    return tmp


def test_cpu_checks_read_sysfs_and_say_why_and_how(tmp_path: Path) -> None:
    cpu = _sys(tmp_path / "cpu", {"cpu0/cpufreq/scaling_governor": "powersave\n",
                                  "cpu1/cpufreq/scaling_governor": "powersave\n", "cpufreq/boost": "1\n",
                                  "smt/active": "1\n", "isolated": "\n"})
    gov = checks.governor(cpu)
    assert (gov.value, gov.status) == ("powersave", "warn") and gov.fix == "cpupower frequency-set -g performance (root)"
    assert checks.governor(_sys(tmp_path / "perf", {"cpu0/cpufreq/scaling_governor": "performance"})).status == "ok"
    assert checks.governor(tmp_path / "none").status == "unknown"  # never guessed
    assert (checks.boost(cpu).value, checks.boost(cpu).status) == ("on", "info")
    assert checks.smt(cpu).value == "on" and "sibling" in checks.smt(cpu).why
    assert checks.isolation(cpu).value.startswith("none")
    thp = _sys(tmp_path / "mm", {"enabled": "[always] madvise never\n"}) / "enabled"
    assert (checks.transparent_huge_pages(thp).value, checks.transparent_huge_pages(thp).status) == ("always", "info")
    thp.write_text("always madvise [never]\n")
    never = checks.transparent_huge_pages(thp)
    assert (never.value, never.status) == ("never", "info") and "huge_pages: true runs on 4 KiB pages" in never.why
    assert checks.allocator({"LD_PRELOAD": "/usr/lib/libjemalloc.so.2"}).value == "jemalloc"
    assert checks.allocator({"MALLOC_ARENA_MAX": "2"}).value == "glibc malloc (MALLOC_ARENA_MAX)"
    import os

    mine = sorted(os.sched_getaffinity(0))
    nodes = _sys(tmp_path / "node", {"node0/cpulist": f"{mine[0]}", "node1/cpulist": f"{mine[-1]}-{mine[-1] + 1}"})
    numa = checks.numa(nodes)
    if len(mine) > 1:
        assert numa.status == "warn" and "numactl" in numa.fix
    assert checks.numa(_sys(tmp_path / "one", {"node0/cpulist": "0-3"})).value == "1 node"


def test_gpu_checks_from_nvml_and_a_clean_word_without_it() -> None:
    def fail() -> None:
        raise RuntimeError("NVML Shared Library Not Found")

    (finding,) = checks.gpu_findings(SimpleNamespace(nvmlInit=fail))
    assert finding.status == "unknown" and "NVML did not initialise (RuntimeError: NVML Shared Library Not Found)" \
        in finding.why
    fake = SimpleNamespace(
        NVML_CLOCK_SM=1, nvmlInit=lambda: None, nvmlShutdown=lambda: None, nvmlDeviceGetCount=lambda: 1,
        nvmlDeviceGetHandleByIndex=lambda i: i, nvmlDeviceGetPersistenceMode=lambda h: 0,
        nvmlDeviceGetApplicationsClock=lambda h, c: 1410, nvmlDeviceGetMaxClockInfo=lambda h, c: 1410,
        nvmlDeviceGetEnforcedPowerLimit=lambda h: 300_000, nvmlDeviceGetPowerManagementDefaultLimit=lambda h: 400_000,
        nvmlDeviceGetEccMode=lambda h: (1, 1), nvmlDeviceGetMigMode=lambda h: (0, 0),
        nvmlDeviceGetComputeRunningProcesses=lambda h: [SimpleNamespace(pid=1)],
        nvmlDeviceGetCurrPcieLinkGeneration=lambda h: 4, nvmlDeviceGetCurrPcieLinkWidth=lambda h: 16,
        nvmlDeviceGetMaxPcieLinkGeneration=lambda h: 4, nvmlDeviceGetMaxPcieLinkWidth=lambda h: 16)
    found = {f.check: f for f in checks.gpu_findings(fake)}
    assert found["GPU 0 persistence mode"].status == "warn" and found["GPU 0 persistence mode"].fix == "nvidia-smi -pm 1 (root)"
    assert found["GPU 0 power limit"].value == "300 W of 400 W" and found["GPU 0 power limit"].status == "warn"
    assert found["GPU 0 application clock"].status == "ok" and found["GPU 0 ECC"].value == "on"
    assert found["GPU 0 other processes"].value == "1" and not found["GPU 0 other processes"].stable
    assert found["GPU 0 PCIe link"].value == "gen 4 x16"


def test_doctor_runs_here_and_says_what_it_cannot_read(tmp_path: Path) -> None:
    out = run_cli("doctor", "--json", env=cli_env(DLRMBENCH_HOME=str(tmp_path)))
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    names = [f["check"] for f in doc["findings"]]
    assert names[:8] == ["CPU governor", "CPU boost", "SMT", "transparent huge pages", "memory allocator",
                         "CPU isolation", "NUMA", "other processes' CPU"]
    assert all(f["status"] in ("ok", "warn", "info", "unknown") for f in doc["findings"])
    assert doc["run_to_run"] is None and len(doc["machine"]) == 16
    text = run_cli("doctor", env=cli_env(DLRMBENCH_HOME=str(tmp_path)))
    assert text.returncode == 0 and "run-to-run variation of machine" in text.stdout and "not measured" in text.stdout


def test_variation_store_round_trip(tmp_path: Path, monkeypatch) -> None:
    values = [1000.0, 1030.0, 980.0, 1010.0]
    assert variation.coefficient_of_variation(values) == pytest.approx(math.exp(np.std(np.log(values), ddof=1)) - 1)
    monkeypatch.setenv("DLRMBENCH_HOME", str(tmp_path))
    path = variation.save(variation.record_from(values, 1, "m1", "2026-01-01T00:00:00+00:00"))
    assert path == tmp_path / "machine-variation.json"
    assert variation.stored_for("m1")["noisy_runs"] == 1 and variation.stored_for("m2") is None
    path.write_text("{not json")
    assert variation.stored_for("m1") is None  # a run never fails for a broken store
    from dlrmbench.errors import UserError

    with pytest.raises(UserError, match="machine-variation.json: not a machine-variation store"):
        variation.load_store()


def test_run_records_labels_machine_state_and_interleaves_repeats(write_suite, tmp_path: Path) -> None:
    suite = write_suite("name: tiny\n" + TINY_DEFAULTS.replace("train_samples: 4096", "train_samples: 1024") + """
cases:
  - name: a
  - name: b
    device: cuda
""")
    home = tmp_path / "home"
    machine = machine_id(identity(current_host()))
    variation.save(variation.record_from([100.0, 102.0, 99.0], 0, machine, "2026-01-01T00:00:00+00:00"),
                   home / "machine-variation.json")
    out = tmp_path / "out"
    proc = run_cli("run", str(suite), "-o", str(out), "--quiet", "--repeat", "2", "--label", "commit=abc123",
                   "--label", "branch=main", env=cli_env(DLRMBENCH_HOME=str(home)))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    manifest = RunManifest.model_validate_json(next(out.rglob("run.json")).read_text())
    assert manifest.labels == {"commit": "abc123", "branch": "main"}
    # A B A B (b is skipped without a GPU: the order is what counts, and a skip costs nothing)
    assert [(c.case, c.repeat) for c in manifest.cases] == [("a", 0), ("b", 0), ("a", 1), ("b", 1)]
    env = manifest.environment
    assert env["machine"] == machine and env["run_to_run"]["cv"] == pytest.approx(
        variation.coefficient_of_variation([100.0, 102.0, 99.0]))
    assert [f["check"] for f in env["machine_state"]][:2] == ["CPU governor", "CPU boost"]
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert env["plugin_commits"]["dlrmbench"]["commit"] == head  # the built-in plugins' checkout


def test_labels_are_checked_before_anything_runs() -> None:
    from dlrmbench.cli.run import parse_labels
    from dlrmbench.errors import UserError

    assert parse_labels(("commit=abc", "driver=550.54=x")) == {"commit": "abc", "driver": "550.54=x"}
    for bad, message in (("no-equals-sign", "expected KEY=VALUE"), ("9x=1", "expected KEY=VALUE"),
                         ("k=a\x1b[31m", "printable text"), ("k=" + "v" * 201, "at most 200 characters")):
        with pytest.raises(UserError, match=message):
            parse_labels((bad,))
    with pytest.raises(UserError, match="given twice with different values"):
        parse_labels(("k=1", "k=2"))
