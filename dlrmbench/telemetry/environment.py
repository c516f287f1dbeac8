"""The environment fingerprint stored with every result: what a number was measured on.

Collected in the parent without importing torch (package versions come from metadata). The
hostname is hashed so results can be shared without naming machines.
"""

from __future__ import annotations

import hashlib
import platform
import socket
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from dlrmbench import __version__
from dlrmbench.host import Host

PACKAGES = ("torch", "triton", "numpy", "pandas", "pydantic", "pluggy", "click", "rich", "nvidia-ml-py",
            "pyspark", "apex", "mlperf-logging")


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_commit(path: Path | None = None) -> dict[str, Any]:
    """The commit of the dlrmbench checkout and whether it has local changes (None outside git)."""
    root = path or Path(__file__).resolve().parents[2]
    try:
        sha = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip() != ""
        return {"commit": sha, "dirty": dirty}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def nvidia_driver() -> str | None:
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            version = pynvml.nvmlSystemGetDriverVersion()
            return version.decode() if isinstance(version, bytes) else version
        finally:
            pynvml.nvmlShutdown()
    except Exception:
        return None


def fingerprint(host: Host, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything that could explain a difference between two results."""
    return {
        "dlrmbench": __version__,
        "git": git_commit(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpu_count": host.cpu_count,
        "memory_bytes": host.memory_bytes,
        "hostname_sha256": hashlib.sha256(socket.gethostname().encode()).hexdigest()[:16],
        "gpus": [{"index": g.index, "name": g.name, "memory_bytes": g.memory_bytes,
                  "compute_capability": list(g.compute_capability) if g.compute_capability else None}
                 for g in host.gpus],
        "gpu_probe": host.gpu_probe_error or "ok",
        "nvidia_driver": nvidia_driver() if host.gpus else None,
        "packages": package_versions(),
        **(extra or {}),
    }
