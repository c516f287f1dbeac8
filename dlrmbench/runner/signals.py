"""Stop requests to ``dlrmbench run``: Ctrl-C (SIGINT), SIGTERM (``docker stop``, Slurm, ``timeout``) and
SIGHUP (a closed terminal) are handled alike.

The first such signal raises :class:`Stopped` (a KeyboardInterrupt, so the runner's interruption
path records the running case and finishes the manifest); later ones are ignored while that
happens. Inside :func:`deferred` a signal is held until the block ends, so a result and its
manifest entry are always written together. The process then exits ``128 + signal number``
(130, 143, 129), the shell convention.
"""

from __future__ import annotations

import signal
from contextlib import contextmanager
from types import FrameType
from typing import Iterator

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Stopped(KeyboardInterrupt):
    """A stop request; ``signum`` says which signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal_name(signum))
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    @property
    def reason(self) -> str:
        if self.signum == signal.SIGINT:
            return "interrupted by the user (Ctrl-C)"
        return f"stopped by {signal_name(self.signum)} (the run was asked to stop)"


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class _State:
    raised: Stopped | None = None  # the request being handled
    pending: int | None = None  # a signal held by deferred()
    depth: int = 0


def _handler(signum: int, frame: FrameType | None) -> None:
    if _State.raised is not None:
        return  # already stopping: the first request is being handled
    if _State.depth:
        _State.pending = _State.pending or signum
        return
    _State.raised = Stopped(signum)
    raise _State.raised


@contextmanager
def stop_requests() -> Iterator[None]:
    """Turn SIGINT, SIGTERM and SIGHUP into :class:`Stopped` for the duration of the block."""
    previous = {s: signal.getsignal(s) for s in HANDLED}
    _State.raised, _State.pending, _State.depth = None, None, 0
    for s in HANDLED:
        signal.signal(s, _handler)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        _State.raised, _State.pending, _State.depth = None, None, 0


@contextmanager
def deferred() -> Iterator[None]:
    """Hold stop requests until the block ends (writing a result and its manifest entry)."""
    _State.depth += 1
    try:
        yield
    finally:
        _State.depth -= 1
    if not _State.depth and _State.pending is not None and _State.raised is None:
        signum, _State.pending = _State.pending, None
        _State.raised = Stopped(signum)
        raise _State.raised


def first_request() -> Stopped | None:
    """The stop request being handled, if any."""
    return _State.raised
