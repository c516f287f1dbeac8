"""Runs still marked ``running``: tell a run in progress from one whose process was killed.

``dlrmbench run`` records how a run ended (complete, interrupted, aborted) in ``run.json``. A process
killed with SIGKILL, by the out-of-memory killer or by a crash of the machine cannot, so its manifest
keeps ``running``. The manifest names the process and its machine; on that machine a pid that no
longer exists means the run is over. Readers then treat it as interrupted (in memory: result files
are never rewritten by a reader) and say so.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from dlrmbench.results.schema import RunManifest


def process_exists(pid: int) -> bool:
    """Whether a process with this pid exists on this machine (it may belong to another user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def settle_running(manifest: RunManifest, where: Path) -> str | None:
    """For a manifest marked ``running``: mark it interrupted if its process is gone; a note for the user.

    Returns None for a run that ended normally. The note says which case results are on disk and that
    the case that was running when the process died left none.
    """
    if manifest.status != "running":
        return None
    recorded = f"{len(manifest.cases)} case result(s) it recorded are shown"
    if manifest.pid is not None and manifest.host == socket.gethostname():
        if process_exists(manifest.pid):
            return f"{where}: still running (pid {manifest.pid}); {recorded}, the rest are not written yet"
        manifest.status = "interrupted"
        manifest.reason = (f"the run's process (pid {manifest.pid} on {manifest.host}) ended without recording "
                           "how: killed with SIGKILL, by the out-of-memory killer, or the machine stopped")
        return (f"{where}: {manifest.reason}; treated as interrupted: {recorded}, "
                "the case that was running left no result")
    elsewhere = f"on {manifest.host}" if manifest.host else "(the file names no process: an older dlrmbench wrote it)"
    return (f"{where}: marked running, started {manifest.started_at} {elsewhere}: either still running there "
            f"or killed before it could record its end; {recorded}")
