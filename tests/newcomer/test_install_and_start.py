"""The newcomer's first commands: shipped suites by bare name, a plain (non-editable) ``pip install`` run
from an unrelated folder, and runs from a folder holding a directory named ``dlrmbench`` (a clone)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from click.testing import CliRunner

from dlrmbench.cli import make_cli
from dlrmbench.results.schema import CaseResult
from tests.conftest import REPO, TINY_DEFAULTS, cli_env

SHIPPED = sorted(p.stem for p in (REPO / "suites").glob("*.yaml"))


def _invoke(*args: str, cwd: Path, monkeypatch) -> tuple[int, str]:
    monkeypatch.chdir(cwd)
    result = CliRunner().invoke(make_cli(), list(args), env={"COLUMNS": "100"})
    return result.exit_code, result.output


def test_suites_lists_every_shipped_suite_with_its_cases(tmp_path, monkeypatch):
    code, out = _invoke("suites", "--json", cwd=tmp_path, monkeypatch=monkeypatch)
    assert code == 0, out
    records = json.loads(out)["suites"]
    assert [r["name"] for r in records] == SHIPPED
    quickstart = next(r for r in records if r["name"] == "quickstart")
    assert quickstart["cases"] == 3 and Path(quickstart["file"]).read_bytes() == (REPO / "suites/quickstart.yaml").read_bytes()
    code, out = _invoke("suites", cwd=tmp_path, monkeypatch=monkeypatch)
    assert code == 0 and "quickstart (3 cases)" in out and "dgxa100 (4 cases)" in out


def test_bare_names_run_from_any_folder_and_paths_keep_working(tmp_path, monkeypatch):
    code, out = _invoke("run", "dgxa100", "--dry-run", cwd=tmp_path, monkeypatch=monkeypatch)
    assert code == 0 and "0 of 4 case(s) would run" in out, out
    code, out = _invoke("run", "quickstart.yaml", "--dry-run", cwd=tmp_path, monkeypatch=monkeypatch)
    assert code == 0 and "3 of 3 case(s) would run" in out, out
    code, out = _invoke("validate", str(REPO / "suites/quickstart.yaml"), "quickstart", cwd=tmp_path, monkeypatch=monkeypatch)
    assert code == 0 and out.count("suite 'quickstart', 3 case(s)") == 2, out


def test_a_local_file_wins_over_a_shipped_name_and_a_typo_gets_the_names(tmp_path, monkeypatch):
    (tmp_path / "quickstart.yaml").write_text("name: mine\n" + TINY_DEFAULTS + "cases:\n  - name: only\n")
    code, out = _invoke("run", "quickstart.yaml", "--dry-run", "--json", cwd=tmp_path, monkeypatch=monkeypatch)
    assert code == 0, out
    plan = json.loads(out)
    assert plan["suite"] == "mine" and [c["case"] for c in plan["cases"]] == ["only"]
    code, out = _invoke("run", "quickstrat", "--dry-run", cwd=tmp_path, monkeypatch=monkeypatch)
    assert code == 2
    assert 'quickstrat: no such suite file (did you mean "quickstart"?)' in out
    assert "shipped suites, by name: " + ", ".join(SHIPPED) in out


def _tiny_suite(folder: Path, case: str = "name: train") -> Path:
    suite = folder / "tiny.yaml"
    suite.write_text("name: tiny\n" + TINY_DEFAULTS + f"cases:\n  - {case}\n")
    return suite


def _only_result(out: Path) -> CaseResult:
    files = list(out.rglob("cases/*.json"))
    assert len(files) == 1, files
    return CaseResult.model_validate_json(files[0].read_text())


def test_runs_succeed_from_a_folder_holding_a_directory_named_dlrmbench(tmp_path):
    """A clone's parent folder: ``./dlrmbench`` would shadow the installed package in a worker started
    with the current folder on sys.path (every case failed with an ImportError about 'hookimpl')."""
    (tmp_path / "dlrmbench").mkdir()
    (tmp_path / "dlrmbench_plugins").mkdir()
    script = Path(sys.executable).with_name("dlrmbench")  # the console script a user types
    suite = _tiny_suite(tmp_path, "{name: train, threads: 1}")
    result = subprocess.run([str(script), "run", str(suite), "-o", "out", "--quiet"], cwd=tmp_path,
                            env=cli_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    case = _only_result(tmp_path / "out")
    assert case.status == "ok", case.reason
    assert case.metrics["train_steps"].value == 16
    # the case's threads: applied in the worker (torch's own count there) and recorded with the config
    assert case.config["threads"] == 1 and case.environment["threads"] == 1
    # the AUC comes with its interval and the samples it rests on (the 1,024 test rows)
    evaluation = case.evaluations[-1]
    assert evaluation["samples"] == 1024 and 0 < evaluation["positives"] < 1024
    assert f"AUC: {case.metrics['auc'].value:.4f} ±" in result.stdout and "(n=1,024)" in result.stdout


def test_threads_times_processes_above_the_cores_warn(tmp_path, monkeypatch):
    import os

    cores = os.cpu_count() or 1
    suite = _tiny_suite(tmp_path, f"{{name: hog, threads: {cores}, processes: 2, distributed: {{oversubscribe: true}}}}")
    code, out = _invoke("run", str(suite), "--dry-run", cwd=tmp_path, monkeypatch=monkeypatch)
    assert code == 0, out
    assert (f"Warning: hog: threads {cores} x processes 2 = {2 * cores} exceed the {cores} CPU core(s) here"
            in " ".join(out.split()))
    suite = _tiny_suite(tmp_path, "{name: fits, threads: 1}")
    code, out = _invoke("run", str(suite), "--dry-run", cwd=tmp_path, monkeypatch=monkeypatch)
    assert code == 0 and "Warning" not in out, out


def test_bf16_on_a_cpu_without_native_bf16_warns_that_it_times_emulation(tmp_path, monkeypatch):
    from dlrmbench import cpu_features

    suite = _tiny_suite(tmp_path, "{name: half, precision: bf16}")
    monkeypatch.setattr(cpu_features, "cpu_flags", lambda cpuinfo="/proc/cpuinfo": frozenset({"avx2", "fma"}))
    code, out = _invoke("run", str(suite), "--dry-run", cwd=tmp_path, monkeypatch=monkeypatch)
    assert code == 0, out
    assert ("Warning: half: precision bf16: this CPU has no native bf16 (neither avx512_bf16 nor amx_bf16 in "
            "/proc/cpuinfo): bf16 would be emulated; its speed measures the emulation, not bf16 hardware"
            in " ".join(out.split())), out
    monkeypatch.setattr(cpu_features, "cpu_flags", lambda cpuinfo="/proc/cpuinfo": frozenset({"avx512_bf16"}))
    code, out = _invoke("run", str(suite), "--dry-run", cwd=tmp_path, monkeypatch=monkeypatch)
    assert code == 0 and "Warning" not in out, out


def _copy_checkout(dest: Path) -> Path:
    """What a build of the checkout reads (so the build's own files never land in the working tree)."""
    for name in ("pyproject.toml", "setup.py", "README.md", "LICENSE"):
        if (REPO / name).exists():
            shutil.copy(REPO / name, dest / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for folder in ("dlrmbench", "plugins", "preproc", "suites"):
        shutil.copytree(REPO / folder, dest / folder, ignore=ignore)
    return dest


def test_plain_pip_install_runs_quickstart_from_an_unrelated_folder(tmp_path):
    """``pip install`` of the checkout (not editable) into a fresh venv that reuses this environment's
    torch and build tools (a path entry, so the editable install here stays invisible), then the
    quickstart by name from a folder that has nothing of the project."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    (site / "reuse-project-env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    source = tmp_path / "src"
    source.mkdir()
    _copy_checkout(source)
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                              "--no-index", str(source)], capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stdout + install.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = subprocess.run([str(python), "-c", "import dlrmbench, dlrmbench_suites; print(dlrmbench.__file__)"],
                           cwd=elsewhere, check=True, capture_output=True, text=True).stdout
    assert where.startswith(str(site)), where  # the installed copy, not the checkout
    env = {**cli_env(), "PATH": f"{venv / 'bin'}:{cli_env().get('PATH', '')}"}
    result = subprocess.run([str(venv / "bin" / "dlrmbench"), "run", "quickstart", "--scale-down", "--only",
                             "train-joint", "-o", "results", "--quiet"], cwd=elsewhere, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    case = _only_result(elsewhere / "results")
    assert case.status == "ok" and case.case == "train-joint", case.reason
