"""Text from outside (exception messages, worker logs) made safe to record and print: no terminal
escape codes or control characters, which would otherwise travel into result files and repaint a
terminal when shown."""

from __future__ import annotations

import re

_CONTROL = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]|[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def plain_text(text: str) -> str:
    """``text`` without ANSI escape sequences and control characters (newlines and tabs kept)."""
    return _CONTROL.sub("", text)


def first_line(text: str, limit: int = 200) -> str:
    """The first non-empty line of ``text``, plain (see :func:`plain_text`), at most ``limit`` characters."""
    line = next((ln.strip() for ln in plain_text(text).splitlines() if ln.strip()), "(no message)")
    return line[:limit]
