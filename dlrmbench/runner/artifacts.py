"""Where a worker keeps files it produces beside its result (LoadGen's logs): the run's folder when the runner
says so, else a fresh temporary folder (an in-process caller).

The runner passes ``<run dir>/artifacts/<case file stem>`` in :data:`ARTIFACTS_VARIABLE`; the result records
paths relative to the run directory, so a result set stays self-contained when it is moved.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

ARTIFACTS_VARIABLE = "DLRMBENCH_ARTIFACTS"


def case_artifacts(case_name: str) -> Path:
    """The folder this worker writes its files into (created)."""
    given = os.environ.get(ARTIFACTS_VARIABLE)
    folder = Path(given) if given else Path(tempfile.mkdtemp(prefix=f"dlrmbench-{case_name}-"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder
