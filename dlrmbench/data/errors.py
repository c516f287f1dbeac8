"""The error a bad dataset raises: a :class:`UserError`, so the CLI prints it without a traceback."""

from __future__ import annotations

from dlrmbench.errors import UserError


class DatasetError(UserError):
    """A dataset file or directory that cannot be read as claimed.

    The message names the file, the offset or feature, what was expected and what was found.
    """
