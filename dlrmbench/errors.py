"""Errors a user can fix. The CLI prints them without a traceback and exits with their code."""

from __future__ import annotations


class UserError(Exception):
    """A bad input: the message names the file, the field and the fix.

    Args:
        message: what is wrong and how to fix it.
        exit_code: the process exit status the CLI uses (2 for bad input, like click).
    """

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message


def did_you_mean(value: str, choices: list[str] | tuple[str, ...]) -> str:
    """Return ' (did you mean "x"?)' for the closest choice, or '' when nothing is close."""
    import difflib

    close = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""
