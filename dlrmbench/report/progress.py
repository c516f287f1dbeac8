"""Live progress of a running suite: one rich progress bar per case, with steps, samples/s and ETA."""

from __future__ import annotations

import statistics
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class SuiteProgress:
    """Renders worker events; a no-op when ``enabled`` is False."""

    def __init__(self, console: Console, enabled: bool = True) -> None:
        self.console = console
        self.enabled = enabled
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TextColumn("{task.fields[note]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            disable=not enabled,
        )
        self._task: Any = None
        self._batch = 1

    def __enter__(self) -> "SuiteProgress":
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)

    def start_case(self, label: str, batch_size: int) -> None:
        self._batch = batch_size
        self._task = self.progress.add_task(label, total=None, rate="", note="starting")

    def on_event(self, event: dict[str, Any]) -> None:
        if self._task is None:
            return
        kind = event.get("event")
        if kind == "start":
            self.progress.update(self._task, total=event.get("total_steps"), note="")
        elif kind == "progress":
            times = event.get("step_times") or []
            rate = f"{self._batch / statistics.fmean(times):,.0f} samples/s" if times else ""
            if "throughput" in event:
                rate = f"{event['throughput']:,.0f} samples/s (bs {event.get('batch_size')})"
            note = f"loss {event['loss']:.4f}" if "loss" in event else ""
            self.progress.update(self._task, completed=event.get("step", 0), rate=rate, note=note)
        elif kind == "evaluation":
            self.progress.update(self._task, note=f"AUC {event['auc']:.4f} at step {event['step']}")

    def end_case(self, status: str, summary: str) -> None:
        if self._task is not None:
            task = self.progress.tasks[-1]
            if task.total is None:
                self.progress.update(self._task, total=1, completed=1 if status == "ok" else 0)
            style = "green" if status == "ok" else "red"
            self.progress.update(self._task, note=f"[{style}]{status}[/] {summary}")
        self._task = None
