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


# Characters that act on a terminal or reorder what it shows: C0/C1 controls, DEL, the bidirectional
# embeddings, overrides, isolates and marks, zero-width characters and the Unicode line separators.
_UNSHOWABLE = "\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff"
_UNSHOWN = re.compile(f"[{_UNSHOWABLE}]")
_UNSHOWN_OR_NEWLINE = re.compile(f"[{_UNSHOWABLE}\t\n]")
# Inside JSON text such characters are written raw (the bidirectional ones) or as \uXXXX / \b \f \r escapes.
_JSON_SUSPECT = re.compile(f"[{_UNSHOWABLE}]" + r"|\\u(?:00[01]|007f|00[89]|061c|20[0-6]|feff)|\\[bfr]", re.IGNORECASE)


_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return _NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def shown(text: str, newlines: bool = True) -> str:
    """``text`` with every control, bidirectional and zero-width character written as a visible escape
    (``\\x1b``, ``\\u202e``): it can neither act on a terminal nor hide or reorder what is shown.
    Newlines and tabs are kept unless ``newlines`` is False (for names, which are one line)."""
    pattern = _UNSHOWN if newlines else _UNSHOWN_OR_NEWLINE
    return pattern.sub(_escape, text) if pattern.search(text) else text


def shown_tree(value: object) -> object:
    """A parsed JSON value with :func:`shown` applied to every string in it, keys included."""
    if isinstance(value, str):
        return shown(value)
    if isinstance(value, dict):
        return {shown(k) if isinstance(k, str) else k: shown_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shown_tree(v) for v in value]
    return value


def shown_json(text: str) -> object:
    """``json.loads(text)`` with :func:`shown_tree` applied, walking the tree only when the text holds
    such a character (raw or escaped): result files hold long lists of numbers."""
    import json

    data = json.loads(text)
    return shown_tree(data) if _JSON_SUSPECT.search(text) else data


def one_line_names(model: object) -> None:
    """Escape newlines and tabs in the names a result file gives (``suite``, ``run_id``, ``case``, and each
    manifest entry's ``case``), in place: each is shown on one line."""
    for key in ("suite", "run_id", "case"):
        if isinstance(getattr(model, key, None), str):
            setattr(model, key, shown(getattr(model, key), newlines=False))
    for entry in getattr(model, "cases", None) or ():
        entry.case = shown(entry.case, newlines=False)
