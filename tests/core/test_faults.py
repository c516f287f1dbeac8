"""Faults during `dlrmbench run`, end to end: stop signals, a killed worker, a full disk, an unwritable
output, a --timeout override. After each, every finished result is valid JSON and the manifest tells
the truth (its status, and exactly the cases whose files exist)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dlrmbench.results.schema import CaseResult, RunManifest
from tests.conftest import REPO, TINY_DEFAULTS, cli_env, run_cli

THREE_CASES = """
cases:
  - name: first
  - name: second
    progress_every: 1
    dataset: {{name: flaky, options: {{delay_s: {delay}, marker_file: "{marker}"}}}}
  - name: third
"""


def _run_dir(out: Path) -> Path:
    runs = [p.parent for p in out.rglob("run.json")]
    assert len(runs) == 1, runs
    return runs[0]


def check_truthful(run_dir: Path) -> tuple[RunManifest, dict[str, CaseResult]]:
    """Every file is standard JSON (no NaN literal), no temp file is left, and the manifest lists
    exactly the result files on disk, with their statuses."""
    def strict(path: Path):
        return json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(f"{path}: literal {c}"))

    manifest = RunManifest.model_validate(strict(run_dir / "run.json"))
    results = {}
    for path in (run_dir / "cases").glob("*"):
        assert path.suffix == ".json", f"left behind: {path}"
        result = CaseResult.model_validate(strict(path))
        results[result.case] = result
    assert not [p for p in run_dir.iterdir() if p.name.startswith(".")], "temporary files left behind"
    listed = {e.case: e for e in manifest.cases if e.file}
    assert set(listed) == set(results)
    assert all(listed[c].status == r.status for c, r in results.items())
    return manifest, results


def _worker_processes(marker: str) -> list[int]:
    """Processes whose command line mentions ``marker`` (our private TMPDIR)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


def _start(suite: Path, out: Path, tmpdir: Path, env_extra: Path) -> subprocess.Popen:
    tmpdir.mkdir(exist_ok=True)
    return subprocess.Popen([sys.executable, "-m", "dlrmbench", "run", str(suite), "-o", str(out), "--quiet"],
                            cwd=REPO, env=cli_env(env_extra, TMPDIR=str(tmpdir)), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_for(path: Path, proc: subprocess.Popen, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not path.exists() and proc.poll() is None:
        time.sleep(0.2)
    assert path.exists(), "the second case never started: " + "".join(proc.communicate(timeout=30))


@pytest.mark.parametrize("signum, code, name", [(signal.SIGTERM, 143, "SIGTERM"), (signal.SIGHUP, 129, "SIGHUP")])
def test_stop_signal_records_the_running_case_and_finishes_the_manifest(write_suite, tmp_path, plugin_site,
                                                                      signum, code, name):
    marker = tmp_path / "second-is-running"
    suite = write_suite("name: stop\n" + TINY_DEFAULTS + THREE_CASES.format(delay=1.0, marker=marker))
    out, tmpdir = tmp_path / "results", tmp_path / "tmp"
    proc = _start(suite, out, tmpdir, plugin_site)
    _wait_for(marker, proc)
    time.sleep(1.5)
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stdout + stderr
    assert "Traceback" not in stdout + stderr
    assert f"stopped by {name}" in stdout
    manifest, results = check_truthful(_run_dir(out))
    assert manifest.status == "interrupted" and manifest.reason.startswith(f"stopped by {name}")
    assert manifest.finished_at is not None
    assert results["first"].status == "ok"
    assert results["second"].status == "interrupted" and results["second"].reason.startswith(f"stopped by {name}")
    assert results["second"].step_times_s  # what it measured before the stop is kept
    assert "third" not in results
    assert list(tmpdir.glob("dlrmbench-*")) == [], "temporary case directory left behind"
    assert _worker_processes(str(tmpdir)) == [], "orphan worker"


def test_sigkill_of_the_worker_is_recorded_and_the_suite_goes_on(write_suite, tmp_path, plugin_site):
    marker = tmp_path / "second-is-running"
    suite = write_suite("name: killed\n" + TINY_DEFAULTS + THREE_CASES.format(delay=0.5, marker=marker))
    out, tmpdir = tmp_path / "results", tmp_path / "tmp"
    proc = _start(suite, out, tmpdir, plugin_site)
    _wait_for(marker, proc)
    workers = [p for p in _worker_processes(str(tmpdir)) if p != proc.pid]
    assert workers
    for pid in workers:
        os.kill(pid, signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 1, stdout + stderr
    assert "Traceback" not in stderr
    manifest, results = check_truthful(_run_dir(out))
    assert manifest.status == "complete"
    assert results["second"].status == "failed"
    assert "killed by signal 9 (SIGKILL: killed from outside" in results["second"].reason
    assert results["first"].status == results["third"].status == "ok"
    assert list(tmpdir.glob("dlrmbench-*")) == []


def _small_tmpfs(where: Path) -> bool:
    """Mount a 2 MiB tmpfs at ``where`` when this process may (root, mount available)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(where)], capture_output=True)
    return done.returncode == 0


def _fill(directory: Path) -> None:
    """Take every free byte of the file system at ``directory``."""
    fd = os.open(directory / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for block in (65536, 512, 1):
            try:
                while True:
                    os.write(fd, b"\0" * block)
            except OSError:
                pass
    finally:
        os.close(fd)


SIMULATED_FULL_DISK = '''
import errno, os
from pathlib import Path
import dlrmbench.results.store as store
_write = store.atomic_write_text
def atomic_write_text(path, text):
    if Path(os.environ["DLRMBENCH_TEST_FULL_WHEN"]).exists() and path.name != "run.json":
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
    _write(path, text)
store.atomic_write_text = atomic_write_text
'''


def test_full_disk_stops_the_run_with_a_clear_message_and_a_truthful_manifest(write_suite, tmp_path, plugin_site):
    marker = tmp_path / "second-is-running"
    suite = write_suite("name: full\n" + TINY_DEFAULTS + THREE_CASES.format(delay=1.0, marker=marker))
    mount = tmp_path / "small"
    real = _small_tmpfs(mount)
    try:
        out = (mount if real else tmp_path) / "results"
        extra = plugin_site
        env = cli_env(extra, TMPDIR=str(tmp_path / "tmp"), DLRMBENCH_TEST_FULL_WHEN=str(marker))
        if not real:  # a simulated ENOSPC on every result file written once the second case runs
            hook = tmp_path / "hook"
            hook.mkdir()
            (hook / "sitecustomize.py").write_text(SIMULATED_FULL_DISK)
            env["PYTHONPATH"] = f"{hook}{os.pathsep}{env['PYTHONPATH']}"
        (tmp_path / "tmp").mkdir()
        proc = subprocess.Popen([sys.executable, "-m", "dlrmbench", "run", str(suite), "-o", str(out), "--quiet"],
                                cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _wait_for(marker, proc)
        if real:
            _fill(mount)
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 1, stdout + stderr
        assert "Traceback" not in stdout + stderr
        assert "could not write the result of case second: No space left on device" in stderr
        assert "1 finished result(s) are in" in stderr
        manifest, results = check_truthful(_run_dir(out))
        assert manifest.status == "aborted" and "No space left on device" in manifest.reason
        assert set(results) == {"first"} and results["first"].status == "ok"
        unsaved = [e for e in manifest.cases if not e.file]
        assert [e.case for e in unsaved] == ["second"] and "not saved" in unsaved[0].reason
    finally:
        if real:
            subprocess.run(["umount", str(mount)], check=False)


def test_unwritable_or_non_directory_output_is_refused_before_running(write_suite, tmp_path):
    suite = write_suite("name: out\n" + TINY_DEFAULTS + "cases:\n  - name: a\n")
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    proc = run_cli("run", str(suite), "-o", str(not_a_dir), "--quiet", timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"--output {not_a_dir}: exists and is not a directory" in proc.stderr
    proc = run_cli("run", str(suite), "-o", str(not_a_dir / "sub"), "--quiet", timeout=120)
    assert proc.returncode == 2 and "cannot create the results directory" in proc.stderr
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        proc = run_cli("run", str(suite), "-o", str(locked), "--quiet", timeout=120)
        assert proc.returncode == 2 and f"--output {locked}: cannot write there" in proc.stderr
    else:  # root writes through permissions: a read-only mount is what stops it
        from dlrmbench.results.store import check_output_dir
        from dlrmbench.errors import UserError

        ro = Path("/proc/self")  # a directory nobody may create files in
        with pytest.raises(UserError, match=r"cannot write there"):
            check_output_dir(ro)


def test_timeout_override_is_quoted_and_recorded(write_suite, tmp_path, plugin_site):
    suite = write_suite("name: slow\n" + TINY_DEFAULTS + """
cases:
  - name: slow
    timeout_s: 600
    progress_every: 1
    dataset: {name: flaky, options: {delay_s: 1.0}}
""")
    out = tmp_path / "results"
    proc = run_cli("run", str(suite), "-o", str(out), "--quiet", "--timeout", "4", env=cli_env(plugin_site))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    _, results = check_truthful(_run_dir(out))
    slow = results["slow"]
    assert slow.status == "timed_out" and slow.reason == "exceeded its timeout of 4 s"
    assert slow.config["timeout_s"] == 4
