"""Names that become a file or folder name: the one check every writer uses.

A name from any input (a suite, a result file, an MLLOG field, a checkpoint, an option) may only
become a path component when it is plain: letters, digits and ``. _ + = -``, not starting with a
dot or dash, no separators, no control characters, no trailing newline, at most 200 characters.
Anything else could write outside the chosen output or hide in a listing.
"""

from __future__ import annotations

import re

SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+=-]*")  # matched with fullmatch: "name\n" is refused
MAX_NAME_LENGTH = 200  # file names are limited to 255 bytes; leave room for ".r12.json" and temp prefixes


def is_safe_name(value: object) -> bool:
    """True when ``value`` is a string that may become one path component as it is."""
    return isinstance(value, str) and len(value) <= MAX_NAME_LENGTH and SAFE_NAME.fullmatch(value) is not None


def check_safe_name(value: str, what: str = "name") -> str:
    """``value`` if it may become a file or folder name, else ValueError saying why and what is allowed."""
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a text {what}")
    if len(value) > MAX_NAME_LENGTH:
        raise ValueError(f"{value[:40]!r}... is {len(value)} characters long; a {what} names a results file "
                         f"or folder, so at most {MAX_NAME_LENGTH} are allowed")
    if not SAFE_NAME.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a safe {what}: use letters, digits and . _ + = -, starting with a letter or "
            "digit (it names a results file or folder, so '/', '..', spaces and control characters are refused)"
        )
    return value
