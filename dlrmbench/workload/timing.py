"""Device-synchronised step timing: every step's time is kept, nothing is averaged away.

On a GPU each step is bracketed by CUDA events (no host sync inside the loop); the events are
read in bulk, after a synchronise, when progress is reported or the window ends. On the CPU the
clock is read after each step (the step has finished when the call returns).
"""

from __future__ import annotations

import time

import torch


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (the device table's rule; a no-op on the CPU)."""
    if device.type != "cpu":
        from dlrmbench.devices import device_type_of

        device_type_of(device).synchronize(device)


class StepTimer:
    """Collects per-step durations in seconds."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.cuda = device.type == "cuda"
        self._pending: list[tuple[object, object]] = []
        self._last: float | None = None
        self._start_event: object | None = None
        self.times: list[float] = []

    def start(self) -> None:
        """Mark the start of the next step (the end of the previous one is implicit)."""
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            self._start_event = event
        else:
            self._last = time.perf_counter()

    def stop(self) -> None:
        """Mark the end of the current step."""
        if self.cuda:
            end = torch.cuda.Event(enable_timing=True)
            end.record()
            self._pending.append((self._start_event, end))
        else:
            assert self._last is not None
            self.times.append(time.perf_counter() - self._last)

    def flush(self) -> list[float]:
        """Resolve pending GPU events (synchronising) and return the new step times."""
        if self.cuda and self._pending:
            self._pending[-1][1].synchronize()  # type: ignore[attr-defined]
            new = [s.elapsed_time(e) / 1000.0 for s, e in self._pending]  # type: ignore[attr-defined]
            self._pending.clear()
            self.times.extend(new)
            return new
        return []


class WallClock:
    """Wall time of a window, synchronised with the device at both ends; pausable for evaluation."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.elapsed = 0.0
        self._since: float | None = None

    def resume(self) -> None:
        synchronize(self.device)
        self._since = time.perf_counter()

    def pause(self) -> None:
        if self._since is not None:
            synchronize(self.device)
            self.elapsed += time.perf_counter() - self._since
            self._since = None

    @property
    def running(self) -> bool:
        return self._since is not None
