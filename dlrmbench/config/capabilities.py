"""Which precisions a device can run; light (no torch), used by the planner."""

from __future__ import annotations

from dlrmbench.config.schema import Case


def precision_unavailable(case: Case, compute_capability: tuple[int, int] | None) -> str | None:
    """Why ``case.precision`` cannot run on ``case.device`` here, or None."""
    if case.device == "cpu" and case.precision in ("amp", "tf32"):
        what = "float16 tensor-core training" if case.precision == "amp" else "TF32 matmuls"
        return f"precision {case.precision} needs a CUDA GPU ({what}); use fp32 or bf16 on the CPU"
    if case.device == "cuda" and case.precision in ("tf32", "bf16") and compute_capability is not None:
        if compute_capability < (8, 0):
            return (
                f"precision {case.precision} needs compute capability 8.0 (Ampere) or newer; "
                f"this GPU has {compute_capability[0]}.{compute_capability[1]}"
            )
    return None
