"""Paths a case writes or reads, from the templates its suite gives (light: no torch).

In a template, ``{case}`` becomes the case name (matrix cases do not overwrite each other) and
``{run_dir}`` the result set's folder, so that a case's logs can live inside the result set they belong
to (``mlperf_log: {path: "{run_dir}/mlperf/{case}.txt"}``) and travel with it. The worker learns the
folder from :data:`RUN_DIR_VARIABLE` in its environment; a reader of a result set (``mlperf package``)
substitutes the set's folder, wherever it has been moved since.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

RUN_DIR_VARIABLE = "DLRMBENCH_RUN_DIR"
RUN_DIR = "{run_dir}"


def output_path(template: str, case_name: str, run_dir: str | Path | None = None) -> Path:
    """The file ``template`` names for ``case_name``; ``{run_dir}`` is ``run_dir``, else the worker's result
    set folder (its environment), else the current folder."""
    folder = run_dir if run_dir is not None else os.environ.get(RUN_DIR_VARIABLE, ".")
    return Path(template.replace("{case}", case_name).replace(RUN_DIR, str(folder)))


def case_path(template: str, case: Any) -> Path:
    """The path of ``case`` for ``template`` (a checkpoint, an MLPerf log)."""
    return output_path(template, case.name)


def in_result_set(template: str) -> bool:
    """True when the template writes inside the result set (a new folder: nothing there to overwrite)."""
    return RUN_DIR in template
