"""Size a LoadGen run from a short probe of the model, where the case leaves the size unset.

LoadGen pre-generates its queries from the *expected* performance: Offline issues one query of
``1.1 x min_duration x offline_expected_qps`` samples, SingleStream and MultiStream about
``min_duration / expected_latency`` queries. Too optimistic a guess makes the run end before its minimum
duration (INVALID: "Increase expected QPS ..."). When the case gives no ``target_qps`` (Offline) or
``target_latency_ms`` (SingleStream, MultiStream), a probe of a few model calls (``probe_s`` seconds) sets
them from the probe's fastest call (after a warm-up; on a busy machine a call's time is mostly the wait for a
core) with a margin: 2 x that rate, half that latency. Erring fast only lengthens the run. The
probe's numbers are recorded; they are not a measurement (LoadGen's are).
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

from dlrmbench.loadgen.qsl import SampleLibrary

QPS_MARGIN = 2.0
MIN_CALLS = 20
#: SingleStream / MultiStream stop at the minimum duration and query count, so a low guess costs only the
#: memory of pre-generated queries (600 s / 1 ms = 600,000).
MAX_EXPECTED_LATENCY_MS = 1.0
MAX_PROBE_S = 3.0
LATENCY_MARGIN = 0.5


def _timed_calls(library: SampleLibrary, call: Callable[[Any], np.ndarray], per_call: int, probe_s: float
                 ) -> list[float]:
    count = library.total_samples
    for k in range(1):  # warm-up: allocator, thread pools
        call(library.prepare([(k * per_call + i) % count for i in range(per_call)]).inputs)
    times: list[float] = []
    start = 0
    deadline = time.perf_counter() + probe_s
    give_up = time.perf_counter() + MAX_PROBE_S
    while (time.perf_counter() < deadline or len(times) < MIN_CALLS) and time.perf_counter() < give_up:
        indices = [(start + k) % count for k in range(per_call)]
        start += per_call
        t0 = time.perf_counter()
        prepared = library.prepare(indices)
        call(prepared.inputs)
        times.append(time.perf_counter() - t0)
        if len(times) >= 1000:
            break
    return times


def _fast(times: list[float]) -> float:
    return float(min(times))


def calibrate(library: SampleLibrary, call: Callable[[Any], np.ndarray], scenario: str, max_batch_size: int,
              samples_per_query: int, probe_s: float = 0.3) -> dict[str, float]:
    """``{"expected_qps": ...}`` (offline, server: unused) or ``{"expected_latency_ms": ...}``."""
    if scenario == "offline":
        per_call = min(max_batch_size, library.total_samples)
        times = _timed_calls(library, call, per_call, probe_s)
        rate = per_call / _fast(times)
        return {"expected_qps": QPS_MARGIN * rate, "probe_samples_per_s": rate}
    if scenario in ("single_stream", "multi_stream"):
        per_call = 1 if scenario == "single_stream" else min(samples_per_query, max_batch_size)
        fast = _fast(_timed_calls(library, call, per_call, probe_s))
        expected = min(LATENCY_MARGIN * fast * 1e3, MAX_EXPECTED_LATENCY_MS)
        return {"expected_latency_ms": expected, "probe_latency_ms": fast * 1e3}
    return {}
