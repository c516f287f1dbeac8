"""`dlrmbench run` end to end: results on disk, failures recorded, timeouts, Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dlrmbench.allocators import unavailable_reason
from dlrmbench.results.schema import CaseResult, RunManifest
from tests.conftest import REPO, TINY_DEFAULTS, cli_env, run_cli


def _run_dir(out: Path) -> Path:
    runs = [p.parent for p in out.rglob("run.json")]
    assert len(runs) == 1, runs
    return runs[0]


def _results(run_dir: Path) -> dict[str, CaseResult]:
    return {r.case: r for r in (CaseResult.model_validate_json(p.read_text()) for p in (run_dir / "cases").glob("*.json"))}


def test_suite_runs_and_writes_complete_results(write_suite, tmp_path):
    suite = write_suite("name: tiny\n" + TINY_DEFAULTS + """
cases:
  - name: train
  - name: infer
    mode: inference
    inference: {batch_sizes: [1, 64], steps: 5, warmup_steps: 1}
  - name: gpu-only
    device: cuda
  - name: jemalloc
    allocator: jemalloc
    max_steps: 4
""")
    out = tmp_path / "results"
    shell = cli_env(MALLOC_TRIM_THRESHOLD_="0", MALLOC_CONF="narenas:1")  # leftovers the worker must not inherit
    result = run_cli("run", str(suite), "-o", str(out), "--quiet", env=shell)
    assert result.returncode == 0, result.stdout + result.stderr
    run_dir = _run_dir(out)
    assert run_dir.parent == out / "tiny"
    manifest = RunManifest.model_validate_json((run_dir / "run.json").read_text())
    assert manifest.status == "complete" and manifest.finished_at
    jemalloc_missing = unavailable_reason("jemalloc")
    assert [(c.case, c.status) for c in manifest.cases] == [("train", "ok"), ("infer", "ok"), ("gpu-only", "skipped"),
                                                            ("jemalloc", "skipped" if jemalloc_missing else "ok")]
    assert manifest.environment["packages"]["torch"] and manifest.environment["cpu_count"] >= 1
    assert len(manifest.environment["hostname_sha256"]) == 16
    results = _results(run_dir)
    train = results["train"]
    assert train.config["batch_size"] == 256 and train.config["model"]["embedding_dim"] == 8
    thr = train.metrics["train_throughput"]
    assert thr.unit == "samples/s" and thr.higher_is_better is True and thr.value > 0
    assert len(train.step_times_s) == 16  # 4096 samples / 256
    assert train.metrics["train_steps"].value == 16
    assert train.evaluations and 0.0 <= train.evaluations[-1]["auc"] <= 1.0
    assert train.environment["torch_version"]
    # the worker ran with the default allocator's settings, whatever this shell says, and counted its page faults
    recorded = train.environment["allocator"]
    assert {k: recorded[k] for k in ("name", "library", "settings", "huge_pages")} == {
        "name": "glibc-tuned", "library": "glibc malloc", "huge_pages": False, "settings": {
            "MALLOC_MMAP_THRESHOLD_": "1073741824", "MALLOC_TOP_PAD_": "67108864",
            "MALLOC_TRIM_THRESHOLD_": "1099511627776"}}
    from dlrmbench.allocators import kernel_thp_mode

    assert recorded["kernel_thp"] == kernel_thp_mode() and isinstance(recorded["huge_page_bytes"], int)
    faults = train.telemetry["summary"]
    assert faults["page_faults_minor"] >= 0 and faults["page_fault_window"] in ("measured window", "whole case")
    if jemalloc_missing:
        assert results["jemalloc"].reason == jemalloc_missing
    else:
        assert results["jemalloc"].environment["allocator"]["library"].endswith("libjemalloc.so.2")
    infer = results["infer"]
    assert [r["batch_size"] for r in infer.inference] == [1, 64]
    assert len(infer.inference[0]["end_to_end"]["step_times_s"]) == 5
    assert infer.metric("inference_latency_p99", 64).unit == "ms" and infer.schema_version == 2
    assert "needs a CUDA GPU" in results["gpu-only"].reason
    assert not list(run_dir.rglob("*.tmp"))
    assert "train" in result.stdout and "Results:" in result.stdout


def test_crashing_and_exiting_cases_are_recorded_and_the_suite_goes_on(write_suite, tmp_path, plugin_site):
    suite = write_suite("name: flaky\n" + TINY_DEFAULTS + """
cases:
  - name: crash
    progress_every: 1
    dataset: {name: flaky, options: {crash_at_batch: 3}}
  - name: hard-exit
    dataset: {name: flaky, options: {exit_at_batch: 2}}
  - name: killed
    dataset: {name: flaky, options: {kill_at_batch: 1}}
  - name: fine
""")
    out = tmp_path / "results"
    result = run_cli("run", str(suite), "-o", str(out), "--quiet", env=cli_env(plugin_site))
    assert result.returncode == 1  # a failed case makes the run exit non-zero
    results = _results(_run_dir(out))
    crash = results["crash"]
    assert crash.status == "failed"
    assert crash.reason == "RuntimeError: testkit: deliberate crash at batch 3"
    assert len(crash.step_times_s) == 3 and "partial" in crash.metrics["train_throughput"].description
    assert "Traceback" in crash.log_tail
    exit_case = results["hard-exit"]
    assert exit_case.status == "failed" and "exited with code 3" in exit_case.reason
    killed = results["killed"]
    assert killed.status == "failed" and "was killed by signal 9" in killed.reason
    assert results["fine"].status == "ok"
    assert "Traceback" not in result.stdout


def test_timeout_kills_the_case_and_keeps_what_it_measured(write_suite, tmp_path, plugin_site):
    suite = write_suite("name: slow\n" + TINY_DEFAULTS + """
cases:
  - name: slow
    timeout_s: 25
    progress_every: 1
    dataset: {name: flaky, options: {delay_s: 1.5}}
""")  # 25 s: room for the worker to start and step even on a loaded 2-core machine
    out = tmp_path / "results"
    start = time.monotonic()
    result = run_cli("run", str(suite), "-o", str(out), "--quiet", env=cli_env(plugin_site))
    assert time.monotonic() - start < 90
    assert result.returncode == 1
    slow = _results(_run_dir(out))["slow"]
    assert slow.status == "timed_out" and slow.reason == "exceeded its timeout of 25 s"
    assert slow.step_times_s and slow.metrics["train_throughput"].value > 0


def test_ctrl_c_records_interrupted_keeps_finished_and_exits_130(write_suite, tmp_path, plugin_site):
    marker = tmp_path / "second-is-running"
    suite = write_suite("name: stop\n" + TINY_DEFAULTS + f"""
cases:
  - name: first
  - name: second
    progress_every: 1
    dataset: {{name: flaky, options: {{delay_s: 1.0, marker_file: "{marker}"}}}}
  - name: third
""")
    out = tmp_path / "results"
    proc = subprocess.Popen([sys.executable, "-m", "dlrmbench", "run", str(suite), "-o", str(out), "--quiet"],
                            cwd=REPO, env=cli_env(plugin_site), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True,
                            # a terminal's Ctrl-C: SIGINT at its default even if this test runner was
                            # started in the background with SIGINT ignored
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and not marker.exists():
        time.sleep(0.2)
    assert marker.exists(), "the second case never started"
    time.sleep(1.5)  # two steps done and reported (progress_every: 1)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stdout + stderr
    run_dir = _run_dir(out)
    manifest = RunManifest.model_validate_json((run_dir / "run.json").read_text())
    assert manifest.status == "interrupted"
    results = _results(run_dir)
    assert results["first"].status == "ok"
    assert results["second"].status == "interrupted" and results["second"].step_times_s
    assert "third" not in results
    assert "Traceback" not in stderr


def test_sigkill_of_the_run_reads_back_as_interrupted(write_suite, tmp_path, plugin_site):
    """kill -9 (or the OOM killer) leaves run.json at `running`; readers see the process is gone and say so."""
    marker = tmp_path / "second-is-running"
    suite = write_suite("name: killed\n" + TINY_DEFAULTS + f"""
cases:
  - name: first
  - name: second
    progress_every: 100000  # silent: a worker writing no events would never notice a broken pipe
    dataset: {{name: flaky, options: {{delay_s: 1.0, marker_file: "{marker}"}}}}
""")
    out = tmp_path / "results"
    scratch = tmp_path / "tmp"  # kill -9 leaves the case's temp folder (documented): under the test's, not /tmp
    scratch.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "dlrmbench", "run", str(suite), "-o", str(out), "--quiet"],
                            cwd=REPO, env={**cli_env(plugin_site), "TMPDIR": str(scratch)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and not marker.exists():
        time.sleep(0.2)
    assert marker.exists(), "the second case never started"
    worker = int(marker.read_text())
    proc.kill()
    proc.wait(timeout=30)
    from dlrmbench.results.stale import process_exists

    gone_by = time.monotonic() + 10
    while process_exists(worker) and time.monotonic() < gone_by:
        time.sleep(0.1)
    if process_exists(worker):
        os.kill(worker, signal.SIGKILL)
        pytest.fail("the worker outlived its run (no orphan may keep the machine busy)")
    run_dir = _run_dir(out)
    on_disk = RunManifest.model_validate_json((run_dir / "run.json").read_text())
    assert on_disk.status == "running" and on_disk.pid == proc.pid  # nothing could record the end

    from dlrmbench.results.load import load_results

    loaded = load_results([out])
    [result_set] = loaded.sets
    assert result_set.manifest.status == "interrupted"
    assert [r.case for r in result_set.results] == ["first"]
    result = run_cli("compare", str(out), env=cli_env(plugin_site))
    assert result.returncode == 0, result.stderr
    assert (f"the run's process (pid {proc.pid} on " in result.stderr
            and "ended without recording how: killed with SIGKILL" in result.stderr
            and "treated as interrupted: 1 case result(s) it recorded are shown" in result.stderr), result.stderr
    assert RunManifest.model_validate_json((run_dir / "run.json").read_text()) == on_disk  # readers never rewrite


def test_a_run_in_progress_or_elsewhere_is_not_called_killed(tmp_path):
    import socket

    from dlrmbench.results.stale import settle_running

    here = RunManifest(suite="s", suite_file="s.yaml", suite_sha256="0", run_id="r", dlrmbench_version="0",
                       command=[], started_at="2026-11-29T00:00:00Z", pid=os.getpid(), host=socket.gethostname())
    assert "still running (pid" in settle_running(here, tmp_path) and here.status == "running"
    there = here.model_copy(update={"host": "another-machine"})
    note = settle_running(there, tmp_path)
    assert "on another-machine: either still running there or killed" in note and there.status == "running"
    old = here.model_copy(update={"pid": None, "host": None})
    assert "an older dlrmbench wrote it" in settle_running(old, tmp_path)
    done = here.model_copy(update={"status": "complete"})
    assert settle_running(done, tmp_path) is None


@pytest.mark.slow
def test_quickstart_runs_and_learns(tmp_path):
    """`make run`'s suite: every case ok and the synthetic signal learnt (its run time is in bench/)."""
    out = tmp_path / "results"
    result = run_cli("run", "suites/quickstart.yaml", "-o", str(out), "--quiet", timeout=900)  # ~1 min when idle
    assert result.returncode == 0, result.stdout + result.stderr
    results = _results(_run_dir(out))
    assert {r.status for r in results.values()} == {"ok"}
    for name in ("train-joint", "train-multi_table"):
        assert results[name].metrics["auc"].value > 0.7
