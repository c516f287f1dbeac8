"""Live progress of a running suite: one rich progress bar per case on a terminal; timestamped lines in a log.

On a terminal every case gets a progress bar with steps, the live rate and an ETA. When stdout is not
a terminal (CI logs, ``| tee``), bars would print nothing until the end, so :class:`LogProgress` prints
one timestamped line when a case starts, one every ``every_s`` seconds while it runs (steps done,
the live rate) and one when it ends.

What the live rate includes: batch size / mean time of the steps timed since the previous report
(each step's forward, backward and optimizer update, device-synchronised); data loading between
steps, evaluation and warm-up exclusion are not in it, so it can differ from the final
measured-window throughput.
"""

from __future__ import annotations

import statistics
import time
from datetime import datetime, timezone
from typing import Any, Callable

LIVE_RATE_NOTE = ("live rate = batch size / mean time of the steps timed since the previous report "
                  "(data loading and evaluation not included)")

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column



EVALUATION_FIELDS = ("event", "step", "samples", "elapsed_s", "rank", "time")
"""Fields of an ``evaluation`` event that are not the family's metrics."""


def evaluation_note(event: dict) -> str:
    """The family's first metric of an evaluation event (``AUC 0.7512``; another family's by its name)."""
    for name, value in event.items():
        if name not in EVALUATION_FIELDS and isinstance(value, (int, float)):
            return f"{'AUC' if name == 'auc' else name} {value:.4f}"
    return "no metric"

class CaseLineProgress(Progress):
    """Each case on two lines: its name whole, then the bar and its figures; a name and numbers side by side
    did not fit 100 columns and rich cropped both (``128/1…``)."""

    def get_renderables(self) -> Any:
        from rich.console import Group
        from rich.text import Text

        lines: list[Any] = []
        for task in self.tasks:
            lines.append(Text(task.description, style="bold", overflow="fold", no_wrap=False))
            lines.append(self.make_tasks_table([task]))
        yield Group(*lines)


class SuiteProgress:
    """Renders worker events; a no-op when ``enabled`` is False."""

    def __init__(self, console: Console, enabled: bool = True) -> None:
        self.console = console
        self.enabled = enabled
        whole = Column(no_wrap=True)  # numbers keep their width; the bar takes what is left
        self.progress = CaseLineProgress(
            BarColumn(bar_width=None, table_column=Column(ratio=1, min_width=4)),
            MofNCompleteColumn(table_column=whole),
            TextColumn("{task.fields[rate]}", table_column=whole),
            TextColumn("{task.fields[note]}", table_column=whole),
            TimeElapsedColumn(table_column=whole),
            console=console,
            disable=not enabled,
            expand=True,
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
            self.progress.update(self._task, note=f"{evaluation_note(event)} at step {event['step']}")

    def end_case(self, status: str, summary: str) -> None:
        if self._task is not None:
            task = self.progress.tasks[-1]
            if task.total is None:
                self.progress.update(self._task, total=1, completed=1 if status == "ok" else 0)
            style = "green" if status == "ok" else "red"
            self.progress.update(self._task, note=f"[{style}]{status}[/] {summary}")
        self._task = None


class LogProgress:
    """Timestamped progress lines for logs (stdout is not a terminal)."""

    def __init__(self, write: Callable[[str], None], every_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.write = write
        self.every_s = every_s
        self.clock = clock
        self._label = ""
        self._batch = 1
        self._total: int | None = None
        self._started = 0.0
        self._last_line = 0.0
        self._last_step = 0
        self._rate = ""
        self._explained = False

    def __enter__(self) -> "LogProgress":
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def _line(self, text: str) -> None:
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.write(f"{stamp} {text}")

    def start_case(self, label: str, batch_size: int) -> None:
        self._label, self._batch, self._total = label, batch_size, None
        self._started = self._last_line = self.clock()
        self._last_step, self._rate = 0, ""
        self._line(f"start {label}")

    def on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "start":
            self._total = event.get("total_steps")
        elif kind == "progress":
            times = event.get("step_times") or []
            if "throughput" in event:
                self._rate = f"{event['throughput']:,.0f} samples/s (batch {event.get('batch_size')})"
            elif times:
                self._rate = f"{self._batch / statistics.fmean(times):,.0f} samples/s"
            self._last_step = int(event.get("step") or 0)
            now = self.clock()
            if now - self._last_line >= self.every_s:
                self._last_line = now
                total = f"/{self._total}" if self._total else ""
                rate = f", live rate {self._rate}" if self._rate else ""
                self._line(f"running {self._label}: step {self._last_step}{total}, "
                           f"{now - self._started:,.0f} s{rate}")
                if rate and not self._explained:
                    self._explained = True
                    self._line(f"  ({LIVE_RATE_NOTE})")
        elif kind == "evaluation":
            self._line(f"evaluated {self._label}: {evaluation_note(event)} at step {event.get('step')}")

    def end_case(self, status: str, summary: str) -> None:
        self._line(f"end {self._label}: {status} after {self.clock() - self._started:,.1f} s"
                   + (f" ({summary})" if summary else ""))
