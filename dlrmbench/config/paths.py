"""Paths a case writes or reads, from the templates its suite gives (light: no torch)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def case_path(template: str, case: Any) -> Path:
    """The path of ``case`` for ``template`` (a checkpoint, an MLPerf log): ``{case}`` becomes the case name,
    so that matrix cases do not overwrite each other."""
    return Path(template.replace("{case}", case.name))
