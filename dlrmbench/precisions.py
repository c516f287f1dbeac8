"""The precision vocabulary: one row per precision a case may name (``precision: amp``).

Each row gives the autocast dtype of the dense parts (a ``torch`` dtype name, resolved by the worker),
whether TF32 matmuls are on, whether it needs a CUDA GPU and which compute capability, whether it
scales the loss, and the tolerance ``dlrmbench verify`` allows against fp32. The planner, the
precision policy, verify and ``--scale-down`` (the CPU stand-in) read this table.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Precision:
    """One precision.

    Attributes:
        name: what a suite writes.
        autocast_dtype: ``torch`` dtype name under autocast (``float16``), or None (float32 compute).
        tf32: TF32 matmuls on (CUDA).
        needs_cuda: refused on other devices, with ``why_cuda`` as the reason.
        min_capability: the oldest CUDA compute capability that runs it, or None.
        loss_scaling: scales the loss (static 1024 or torch's GradScaler, see optimizer.amp_scaler).
        verify_tolerance: largest relative difference verify accepts against the reference, or None when
            verify does not check it.
        cpu_stand_in: the precision a scaled-down case uses on the CPU.
    """

    name: str
    autocast_dtype: str | None
    tf32: bool = False
    needs_cuda: bool = False
    why_cuda: str = ""
    min_capability: tuple[int, int] | None = None
    loss_scaling: bool = False
    verify_tolerance: float | None = None
    cpu_stand_in: str = "fp32"


PRECISIONS: dict[str, Precision] = {
    "fp32": Precision("fp32", None, verify_tolerance=1e-5, cpu_stand_in="fp32"),
    "tf32": Precision("tf32", None, tf32=True, needs_cuda=True, why_cuda="TF32 matmuls", min_capability=(8, 0),
                      cpu_stand_in="fp32"),
    "amp": Precision("amp", "float16", needs_cuda=True, why_cuda="float16 tensor-core training", loss_scaling=True,
                     verify_tolerance=1e-2, cpu_stand_in="bf16"),
    "bf16": Precision("bf16", "bfloat16", min_capability=(8, 0), verify_tolerance=1e-2, cpu_stand_in="bf16"),
}
"""Every precision, by the name a suite uses."""


def precision_reason(name: str, device: str, compute_capability: tuple[int, int] | None) -> str | None:
    """Why precision ``name`` cannot run on ``device`` (with that capability, when known), or None."""
    row = PRECISIONS[name]
    if row.needs_cuda and device != "cuda":
        return f"precision {name} needs a CUDA GPU ({row.why_cuda}); use fp32 or bf16 on the CPU"
    if device == "cuda" and row.min_capability is not None and compute_capability is not None:
        if compute_capability < row.min_capability:
            need = f"{row.min_capability[0]}.{row.min_capability[1]}"
            return (f"precision {name} needs compute capability {need} (Ampere) or newer; "
                    f"this GPU has {compute_capability[0]}.{compute_capability[1]}")
    return None
