"""The environment fingerprint stored with every result: what a number was measured on.

Collected in the parent without importing torch (package versions come from metadata). The
hostname is hashed so results can be shared without naming machines. Besides versions it records
what changes a measurement without changing the code, where readable: every plugin's distribution and
version, the cuDNN and NCCL libraries installed with torch (their pip distributions), per GPU the
application and maximum clocks, power limit, ECC, MIG and persistence mode (NVML), and the CPU
frequency governor and turbo setting (sysfs). A field that cannot be read is recorded as None.
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
from dlrmbench.results.machine import machine_id

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


def library_versions() -> dict[str, str | None]:
    """cuDNN and NCCL as installed for torch (pip distributions ``nvidia-cudnn-*``, ``nvidia-nccl-*``)."""
    found: dict[str, str | None] = {"cudnn": None, "nccl": None}
    try:
        for dist in metadata.distributions():
            name = (dist.metadata.get("Name") or "").lower()
            for lib in found:
                if name.startswith(f"nvidia-{lib}") and found[lib] is None:
                    found[lib] = f"{dist.version} ({name})"
    except Exception:  # a broken distribution must not stop a run
        pass
    return found


def cpu_frequency_policy(sys_cpu: Path = Path("/sys/devices/system/cpu")) -> dict[str, Any]:
    """The CPU frequency governor(s) and turbo/boost state from sysfs (None where not readable)."""
    governors = set()
    for path in sys_cpu.glob("cpu[0-9]*/cpufreq/scaling_governor"):
        try:
            governors.add(path.read_text().strip())
        except OSError:
            continue
    turbo = None
    for path, on_when in ((sys_cpu / "intel_pstate" / "no_turbo", "0"), (sys_cpu / "cpufreq" / "boost", "1")):
        try:
            turbo = path.read_text().strip() == on_when
            break
        except OSError:
            continue
    return {"cpu_governor": ", ".join(sorted(governors)) or None, "cpu_turbo": turbo}


def gpu_settings(nvml: Any = None) -> list[dict[str, Any]]:
    """Per GPU: application and maximum SM/memory clocks (MHz), power limit (W), ECC, MIG and persistence
    mode, from NVML; an empty list without NVML. ``nvml`` is the pynvml module (a test passes a fake)."""
    try:
        if nvml is None:
            import pynvml as nvml  # type: ignore[no-redef]
        nvml.nvmlInit()
    except Exception:
        return []

    def read(fn: str, *args: Any) -> Any:
        try:
            return getattr(nvml, fn)(*args)
        except Exception:
            return None

    out = []
    try:
        for i in range(read("nvmlDeviceGetCount") or 0):
            h = nvml.nvmlDeviceGetHandleByIndex(i)
            power = read("nvmlDeviceGetEnforcedPowerLimit", h)
            ecc = read("nvmlDeviceGetEccMode", h)
            mig = read("nvmlDeviceGetMigMode", h)
            out.append({
                "index": i,
                "application_sm_clock_mhz": read("nvmlDeviceGetApplicationsClock", h, nvml.NVML_CLOCK_SM),
                "application_mem_clock_mhz": read("nvmlDeviceGetApplicationsClock", h, nvml.NVML_CLOCK_MEM),
                "max_sm_clock_mhz": read("nvmlDeviceGetMaxClockInfo", h, nvml.NVML_CLOCK_SM),
                "max_mem_clock_mhz": read("nvmlDeviceGetMaxClockInfo", h, nvml.NVML_CLOCK_MEM),
                "power_limit_w": power / 1000.0 if power is not None else None,
                "ecc": bool(ecc[0]) if isinstance(ecc, (list, tuple)) and ecc else None,
                "mig": bool(mig[0]) if isinstance(mig, (list, tuple)) and mig else None,
                "persistence": bool(p) if (p := read("nvmlDeviceGetPersistenceMode", h)) is not None else None,
            })
    finally:
        try:
            nvml.nvmlShutdown()
        except Exception:
            pass
    return out


def identity(host: Host) -> dict[str, Any]:
    """The fields of the fingerprint that say which machine this is (what :func:`machine_id` hashes)."""
    return {"hostname_sha256": hashlib.sha256(socket.gethostname().encode()).hexdigest()[:16], "cpu": cpu_model(),
            "cpu_count": host.cpu_count, "memory_bytes": host.memory_bytes,
            "gpus": [{"name": g.name} for g in host.gpus]}


def _direct_url(name: str, first: Any) -> Any:
    """pip's ``direct_url.json`` record of distribution ``name``: from the first copy of it on the path that
    has one (a checkout's own ``*.egg-info``, found first when the current folder is on ``sys.path``, has none)."""
    import json

    for dist in [first, *(d for d in metadata.distributions() if d.metadata["Name"] == name and d is not first)]:
        try:
            raw = dist.read_text("direct_url.json")
            info = json.loads(raw) if raw else None
        except Exception:
            info = None
        if isinstance(info, dict):
            return info
    return None


def plugin_checkouts() -> dict[str, dict[str, Any]]:
    """The git commit of every plugin distribution (entry point group ``dlrmbench``) installed from a
    checkout: the commit pip recorded for a VCS install, or the checkout's HEAD (and whether it has
    local changes) for an editable install. Distributions installed from an index are left out."""
    from urllib.parse import unquote, urlparse

    out: dict[str, dict[str, Any]] = {}
    try:
        dists = {ep.dist.metadata["Name"]: ep.dist for ep in metadata.entry_points(group="dlrmbench") if ep.dist}
    except Exception:  # a broken distribution must not stop a run
        return out
    for name, dist in sorted(dists.items()):
        info = _direct_url(name, dist)
        if not isinstance(info, dict):
            continue
        vcs = info.get("vcs_info")
        if isinstance(vcs, dict) and vcs.get("commit_id"):
            out[name] = {"commit": vcs["commit_id"], "dirty": None, "url": info.get("url")}
        elif isinstance(info.get("dir_info"), dict) and str(info.get("url", "")).startswith("file://"):
            out[name] = git_commit(Path(unquote(urlparse(info["url"]).path)))
    return out


def fingerprint(host: Host, extra: dict[str, Any] | None = None,
                plugins: dict[str, str] | None = None) -> dict[str, Any]:
    """Everything that could explain a difference between two results; ``plugins`` maps each loaded
    plugin to its distribution and version."""
    env = _fingerprint(host, extra, plugins)
    env["machine"] = machine_id(env)
    return env


def _fingerprint(host: Host, extra: dict[str, Any] | None, plugins: dict[str, str] | None) -> dict[str, Any]:
    return {
        "dlrmbench": __version__,
        "git": git_commit(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpu_count": host.cpu_count,
        "memory_bytes": host.memory_bytes,
        "hostname_sha256": identity(host)["hostname_sha256"],
        "gpus": [{"index": g.index, "name": g.name, "memory_bytes": g.memory_bytes,
                  "compute_capability": list(g.compute_capability) if g.compute_capability else None}
                 for g in host.gpus],
        "gpu_probe": host.gpu_probe_error or "ok",
        "nvidia_driver": nvidia_driver() if host.gpus else None,
        "packages": package_versions(),
        "plugins": dict(sorted((plugins or {}).items())),
        "plugin_commits": plugin_checkouts(),
        "libraries": library_versions(),
        "gpu_settings": gpu_settings() if host.gpus else [],
        **cpu_frequency_policy(),
        **(extra or {}),
    }
