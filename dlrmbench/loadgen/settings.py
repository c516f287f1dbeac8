"""A case's ``serve.loadgen`` fields as LoadGen ``TestSettings``, on top of the reference's defaults.

Defaults come from LoadGen itself: ``TestSettings.FromConfig`` loads its built-in ``mlperf.conf`` (the
fixed seeds, 600 s minimum duration, Server p99 <= 60 ms for dlrm-v2, ...) for the case's model and
scenario, then an empty user config; the case's own fields are applied last. ``--short`` shrinks the run to
seconds; such a run is never valid for submission (its minimum duration is below mlperf.conf's).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dlrmbench.config.schema import LoadgenConfig

#: The case's scenario names and LoadGen's.
SCENARIOS = {"offline": "Offline", "server": "Server", "single_stream": "SingleStream",
             "multi_stream": "MultiStream"}
MODES = {"performance": "PerformanceOnly", "accuracy": "AccuracyOnly"}

#: ``--short``: a few seconds per LoadGen run on a CPU.
SHORT_MIN_DURATION_MS = 1000
SHORT_MAX_DURATION_MS = 10_000
#: --short Offline: at most this many samples in the one query when the size comes from a probe.
SHORT_MAX_OFFLINE_SAMPLES = 50_000
#: Enough queries for early stopping to pass when no query is over the bound (LoadGen asks for about 460 at
#: p99 and 64 at p90).
SHORT_MIN_QUERY_COUNT = {"offline": 1, "server": 512, "single_stream": 64, "multi_stream": 512}


@dataclass
class RunSettings:
    """What one LoadGen test runs with: the scenario, mode and every field the case sets."""

    scenario: str
    config: LoadgenConfig
    library_samples: int
    short: bool = False
    target_qps: float | None = None  # a search's rate, overriding config.target_qps
    calibrated: dict[str, float] | None = None  # from a probe (dlrmbench.loadgen.calibrate) where the case is silent


def _ms_to_ns(ms: float) -> int:
    return int(round(ms * 1e6))


def test_settings(run: RunSettings) -> Any:
    """LoadGen ``TestSettings`` for ``run`` (reference defaults, then ``--short``, then the case's fields)."""
    from dlrmbench.loadgen.library import loadgen

    lg = loadgen()
    settings = lg.TestSettings()
    scenario = SCENARIOS[run.scenario]
    with tempfile.TemporaryDirectory(prefix="dlrmbench-lg-") as folder:
        user = Path(folder) / "user.conf"
        user.write_text("")
        if settings.FromConfig(str(user), run.config.model, scenario) != 0:
            from dlrmbench.errors import UserError

            raise UserError(f"LoadGen refused its configuration for model {run.config.model!r}, scenario {scenario}")
    settings.scenario = getattr(lg.TestScenario, scenario)
    settings.mode = getattr(lg.TestMode, MODES[run.config.mode])
    cfg = run.config
    settings.performance_sample_count_override = min(
        cfg.performance_sample_count or settings.performance_sample_count_override or run.library_samples,
        run.library_samples)
    if run.short:
        settings.min_duration_ms = SHORT_MIN_DURATION_MS
        settings.max_duration_ms = SHORT_MAX_DURATION_MS
        settings.min_query_count = SHORT_MIN_QUERY_COUNT[run.scenario]
        settings.max_query_count = 0  # no cap: the duration ends the run
    qps = run.target_qps if run.target_qps is not None else cfg.target_qps
    if qps is not None:
        settings.server_target_qps = qps
        settings.offline_expected_qps = qps
    probe = run.calibrated or {}
    if qps is None and "expected_qps" in probe:
        expected = probe["expected_qps"]
        if run.short:  # a probe on a busy machine can be far too fast: keep the one query to seconds
            expected = min(expected, SHORT_MAX_OFFLINE_SAMPLES / (1.1 * SHORT_MIN_DURATION_MS / 1e3))
        settings.offline_expected_qps = expected
    if cfg.target_latency_ms is None and "expected_latency_ms" in probe:
        settings.single_stream_expected_latency_ns = _ms_to_ns(probe["expected_latency_ms"])
        settings.multi_stream_expected_latency_ns = _ms_to_ns(probe["expected_latency_ms"])
    if cfg.target_latency_ms is not None:
        settings.server_target_latency_ns = _ms_to_ns(cfg.target_latency_ms)
        settings.single_stream_expected_latency_ns = _ms_to_ns(cfg.target_latency_ms)
        settings.multi_stream_expected_latency_ns = _ms_to_ns(cfg.target_latency_ms)
    if cfg.latency_percentile is not None:
        fraction = cfg.latency_percentile / 100
        settings.server_target_latency_percentile = fraction
        settings.single_stream_target_latency_percentile = fraction
        settings.multi_stream_target_latency_percentile = fraction
    for field in ("min_duration_ms", "max_duration_ms", "min_query_count", "max_query_count",
                  "qsl_rng_seed", "sample_index_rng_seed", "schedule_rng_seed"):
        value = getattr(cfg, field)
        if value is not None:
            setattr(settings, field, value)
    if cfg.samples_per_query is not None:
        settings.multi_stream_samples_per_query = cfg.samples_per_query
    if run.short and run.scenario == "server" and qps and cfg.max_duration_ms is None:
        needed_ms = 1.2 * settings.min_query_count / qps * 1e3  # room for the minimum queries at a low rate
        settings.max_duration_ms = int(max(SHORT_MAX_DURATION_MS, needed_ms))
    return settings


def effective(settings: Any) -> dict[str, Any]:
    """The settings a result records (read back from LoadGen's object)."""
    names = ("min_duration_ms", "max_duration_ms", "min_query_count", "max_query_count", "server_target_qps",
             "server_target_latency_ns", "server_target_latency_percentile", "offline_expected_qps",
             "single_stream_expected_latency_ns", "multi_stream_expected_latency_ns", "multi_stream_samples_per_query",
             "performance_sample_count_override", "qsl_rng_seed", "sample_index_rng_seed", "schedule_rng_seed")
    return {name: getattr(settings, name) for name in names}
