"""Which TorchRec / FBGEMM installs the ``torchrec`` strategies can run on (light: metadata only).

torch, fbgemm-gpu and torchrec move in lock-step: an fbgemm-gpu wheel is built against one torch
release and its C++ operators fail to load (or load and crash) under another. The check reads the
installed versions from package metadata, never importing torch, fbgemm_gpu or torchrec, and
names what is installed and what is known to work, so ``list-plugins`` and the planner can say
precisely why a case is skipped. ``make torchrec`` installs the known-good set.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dlrmbench.config.schema import Case
    from dlrmbench.host import Host

FBGEMM_DISTRIBUTIONS = ("fbgemm-gpu", "fbgemm-gpu-cpu", "fbgemm-gpu-nightly", "fbgemm-gpu-nightly-cpu")


@dataclass(frozen=True)
class KnownGood:
    """One combination tested together: torch's release (major.minor) and the matching wheels."""

    torch: str
    torchrec: str
    fbgemm: str


# Each row was installed and run through `dlrmbench verify` (CPU) together. A new row is a new set
# that passed; `make torchrec` installs the first row's torchrec and fbgemm.
KNOWN_GOOD: tuple[KnownGood, ...] = (KnownGood(torch="2.13", torchrec="1.8.0", fbgemm="1.8.0"),)


def installed_version(name: str) -> str | None:
    """The installed version of distribution ``name``, or None."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def release(version: str) -> str:
    """``2.13.0+cpu`` -> ``2.13``: the part a binary wheel's ABI follows."""
    return ".".join(version.split("+")[0].split(".")[:2])


def installed_fbgemm() -> tuple[str, str] | None:
    """(distribution, version) of the installed FBGEMM_GPU wheel (GPU or CPU build), or None."""
    for name in FBGEMM_DISTRIBUTIONS:
        version = installed_version(name)
        if version is not None:
            return name, version
    return None


def known_good_text() -> str:
    return "; ".join(f"torch {k.torch}.x + torchrec=={k.torchrec} + fbgemm-gpu(-cpu)=={k.fbgemm}" for k in KNOWN_GOOD)


def torchrec_versions_reason() -> str | None:
    """None when torch, torchrec and fbgemm-gpu form a known-good set; else what is wrong and the fix."""
    torch_version = installed_version("torch")
    torchrec_version = installed_version("torchrec")
    fbgemm = installed_fbgemm()
    fix = f"known to work: {known_good_text()} (run `make torchrec`)"
    if torchrec_version is None or fbgemm is None:
        missing = [n for n, v in (("torchrec", torchrec_version), ("fbgemm-gpu or fbgemm-gpu-cpu", fbgemm)) if v is None]
        return f"{' and '.join(missing)} not installed (torch {torch_version or 'not installed'}); {fix}"
    fbgemm_name, fbgemm_version = fbgemm
    installed = f"installed: torch {torch_version}, torchrec {torchrec_version}, {fbgemm_name} {fbgemm_version}"
    for good in KNOWN_GOOD:
        if (torch_version is not None and release(torch_version) == good.torch
                and torchrec_version.split("+")[0] == good.torchrec
                and fbgemm_version.split("+")[0] == good.fbgemm):
            return None
    return f"untested version set ({installed}); {fix}"


def torchrec_reason(host: "Host", case: "Case | None", options: object) -> str | None:
    """Capability check shared by ``torchrec`` and ``torchrec_fused``: versions, then the device."""
    reason = torchrec_versions_reason()
    if reason:
        return reason
    fbgemm = installed_fbgemm()
    device = case.device if case is not None else ("cuda" if host.cuda_devices else "cpu")
    if device == "cuda":
        if fbgemm is not None and fbgemm[0].endswith("-cpu"):
            return f"{fbgemm[0]} is the CPU-only build; CUDA cases need fbgemm-gpu (the CUDA build) instead"
        if not host.cuda_devices:
            return host.no_gpu_reason()
    return None
