"""A run on a busy machine says so; piped runs print timestamped progress lines; ``run --json``."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import TINY_DEFAULTS, run_cli

STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


def test_a_cpu_hog_is_reported_and_piped_progress_is_timestamped(write_suite, tmp_path: Path) -> None:
    """Two busy-looping processes (one per core of a 2-core CI box) run while a small case trains: the
    telemetry must see the other processes' CPU time and every view must warn about it."""
    # sampled every 20 ms and 4x the tiny data, so the measured window holds several samples even on a fast
    # machine (with under two, the noise figures fall back to the whole case, labelled so)
    suite = write_suite("name: hog\n" + TINY_DEFAULTS.replace("train_samples: 4096", "train_samples: 65536")
                        .replace("timeout_s: 120", "timeout_s: 600")
                        .replace("progress_every: 5", "progress_every: 5\n  telemetry: {interval_ms: 20}")
                        + "\ncases:\n  - name: train\n")
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        result = run_cli("run", str(suite), "-o", str(tmp_path / "out"), "--json", "--progress-every", "1")
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(result.stdout)  # stdout is exactly one JSON document
    assert summary["schema"] == "dlrmbench.run-summary" and summary["schema_version"] == 1
    (case,) = summary["cases"]
    assert case["status"] == "ok"
    assert {"train_throughput", "train_throughput_p50", "step_time_p99"} <= {m["name"] for m in case["metrics"]}
    busy = [w for w in case["warnings"] if w.startswith("other processes used")]
    assert busy, case["warnings"]
    assert "Warning: train: noisy run: other processes used" in result.stderr
    # not a terminal: one line when the case starts, lines while it runs (the worker's start-up alone takes
    # longer than --progress-every 1, so the first progress report always prints one), one when it ends
    assert re.search(rf"^{STAMP} start train$", result.stderr, re.M), result.stderr
    assert re.search(rf"^{STAMP} running train: step \d+/\d+, \d+ s, live rate [\d,]+ samples/s$", result.stderr, re.M)
    assert "(live rate = batch size / mean time of the steps timed since the previous report" in result.stderr
    assert re.search(rf"^{STAMP} end train: ok after [\d.]+ s", result.stderr, re.M)
    # the figures the warning rests on are in the result file
    (file,) = (tmp_path / "out").rglob("cases/*.json")
    telemetry = json.loads(file.read_text())["telemetry"]["summary"]
    assert telemetry["other_cpu_cores_mean"] >= 0.5 and telemetry["noise_window"] == "measured window"
    # and compare repeats the warning
    compared = run_cli("compare", str(tmp_path / "out"))
    assert compared.returncode == 0 and "Warning: hog/train: noisy run: other processes used" in compared.stdout
