"""One LoadGen test in its own folder: construct SUT and QSL, ``StartTestWithLogSettings``, read the logs.

LoadGen writes ``mlperf_log_summary.txt``, ``mlperf_log_detail.txt``, ``mlperf_log_accuracy.json`` (and a
trace) into ``folder``. An ``audit.config`` in the working directory would silently override the settings
(LoadGen reads it from there), so the test is started with an audit file name inside ``folder`` that does
not exist.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlrmbench.loadgen.logs import Summary, read_summary
from dlrmbench.loadgen.qsl import SampleLibrary
from dlrmbench.loadgen.settings import MODES, SCENARIOS, RunSettings, effective, test_settings
from dlrmbench.loadgen.sut import Batcher, ModelCall

LOG_FILES = ("mlperf_log_summary.txt", "mlperf_log_detail.txt", "mlperf_log_accuracy.json")


@dataclass
class LoadgenRun:
    """What one test produced: its folder, LoadGen's summary and the settings it ran with."""

    folder: Path
    summary: Summary
    settings: dict[str, Any]
    wall_s: float
    model_calls: int
    mean_batch_samples: float | None
    extra: dict[str, Any] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        return {"folder": self.folder.name, "wall_s": self.wall_s, "model_calls": self.model_calls,
                "mean_batch_samples": self.mean_batch_samples, **self.summary.record(),
                **{f"setting_{k}": v for k, v in self.settings.items()}, **self.extra}


def run_test(library: SampleLibrary, model: ModelCall, run: RunSettings, folder: Path, max_batch_size: int,
             max_wait_ms: float, workers: int) -> LoadgenRun:
    """Run one LoadGen test of ``model`` over ``library``; LoadGen's files go to ``folder``."""
    from dlrmbench.loadgen.library import loadgen

    lg = loadgen()
    folder.mkdir(parents=True, exist_ok=True)
    settings = test_settings(run)
    log = lg.LogSettings()
    log.log_output.outdir = str(folder)
    log.log_output.copy_summary_to_stdout = False
    log.enable_trace = False
    batcher = Batcher(library, model, max_batch_size, max_wait_ms, workers, lg)
    sut = lg.ConstructSUT(batcher.issue, batcher.flush)
    count = library.total_samples
    qsl = lg.ConstructQSL(count, min(count, settings.performance_sample_count_override), library.load,
                          library.unload)
    start = time.perf_counter()
    try:
        lg.StartTestWithLogSettings(sut, qsl, settings, log, str(folder / "no-audit.config"))
    finally:
        wall = time.perf_counter() - start
        batcher.stop()
        lg.DestroyQSL(qsl)
        lg.DestroySUT(sut)
    sizes = batcher.batch_sizes
    summary = read_summary(folder)
    summary.scenario = summary.scenario or SCENARIOS[run.scenario]  # an AccuracyOnly summary names neither
    summary.mode = summary.mode or MODES[run.config.mode]
    return LoadgenRun(folder, summary, effective(settings), wall, len(sizes),
                      sum(sizes) / len(sizes) if sizes else None)
