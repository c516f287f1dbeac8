"""Precision policies (facts sheet 2.3): which dtype the dense parts compute in, and loss scaling.

* ``fp32``: float32, TF32 off.   * ``tf32``: float32 storage, TF32 matmuls (GPU only).
* ``amp``: float16 MLPs/interaction under autocast, float32 tables, loss, AUC; a static loss scale
  of 1024 with the learning rate divided by it (the reference), or torch's dynamic GradScaler.
* ``bf16``: bfloat16 autocast, no loss scaling.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import ContextManager

import torch

from dlrmbench.config.schema import Case
from dlrmbench.precisions import PRECISIONS


@dataclass
class PrecisionPolicy:
    """How a step runs: the autocast context, and the loss scale folded into the learning rate."""

    name: str
    device_type: str
    autocast_dtype: torch.dtype | None
    static_loss_scale: float = 1.0
    dynamic_scaler: bool = False

    def autocast(self) -> ContextManager[object]:
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device_type, dtype=self.autocast_dtype)

    def make_scaler(self) -> "torch.amp.GradScaler | None":
        if not self.dynamic_scaler:
            return None
        # growth_interval 1e9 as in NVIDIA's 21.10 code: back off on overflow, practically never grow.
        return torch.amp.GradScaler(self.device_type, growth_interval=int(1e9))


def apply_precision(case: Case, device: torch.device) -> PrecisionPolicy:
    """Set the global matmul flags for ``case.precision`` and return its policy (from its table row)."""
    row = PRECISIONS[case.precision]
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = row.tf32
        torch.backends.cudnn.allow_tf32 = row.tf32
    dtype = getattr(torch, row.autocast_dtype) if row.autocast_dtype else None
    if row.loss_scaling:
        dynamic = case.optimizer.amp_scaler == "dynamic"
        return PrecisionPolicy(
            row.name, device.type, dtype,
            static_loss_scale=1.0 if dynamic else case.optimizer.loss_scale, dynamic_scaler=dynamic,
        )
    return PrecisionPolicy(row.name, device.type, dtype)
