"""``dlrmbench preprocess``: the Spark pipeline of ``preproc/`` mounted in the main CLI.

``preproc`` imports neither dlrmbench nor torch and only click at import time, so mounting it keeps
``dlrmbench --help`` light.
"""

from __future__ import annotations

from typing import Any

from dlrmbench import hookimpl


@hookimpl
def register_commands(cli: Any) -> None:
    from preproc.cli import preprocess

    cli.add_command(preprocess, name="preprocess")
