"""Precisions and devices are tables: the planner, the policy and verify read their rows."""

from __future__ import annotations

import pytest

from dlrmbench.config.schema import Case
from dlrmbench.devices import DEVICES, DeviceType, device_of
from dlrmbench.host import Host
from dlrmbench.plugins import get_registry
from dlrmbench.precisions import PRECISIONS, precision_reason
from dlrmbench.runner.plan import plan


def test_a_new_device_type_is_one_row_plus_its_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    """``xpu``: the case validates, the planner asks the row's probe, the precision rules apply to it."""
    found = {"count": 0}
    xpu = DeviceType(name="xpu", torch_type="xpu", distributed_backend="xccl",
                     count=lambda host: found["count"],
                     unavailable=lambda host: None if found["count"] else "needs an Intel XPU; none found",
                     compute_capability=lambda host: None, synchronize=lambda device: None,
                     peak_memory=lambda device: (0, "none"))
    monkeypatch.setitem(DEVICES, "xpu", xpu)
    case = Case(name="x", device="xpu", batch_size=64, model={"table_sizes": [4, 4]})
    host = Host(cpu_count=2, memory_bytes=2**33)
    [planned] = plan([case], host, get_registry())
    assert planned.skip_reason == "needs an Intel XPU; none found"
    found["count"] = 1
    [planned] = plan([case], host, get_registry())
    assert planned.runnable and device_of("xpu").torch_device(0) == "xpu:0"
    amp = case.model_copy(update={"precision": "amp"})
    assert plan([amp], host, get_registry())[0].skip_reason.startswith("precision amp needs a CUDA GPU")


def test_unknown_device_and_precision_name_the_choices() -> None:
    with pytest.raises(ValueError, match=r"unknown device 'tpu' \(did you mean \"cpu\"\?\); choose one of: 'cpu', 'cuda'"):
        Case(name="x", device="tpu")
    with pytest.raises(ValueError, match="unknown precision 'fp8'.*; choose one of: 'fp32', 'tf32', 'amp', 'bf16'"):
        Case(name="x", precision="fp8")


def test_precision_rows_drive_the_rules() -> None:
    assert precision_reason("tf32", "cpu", None) == "precision tf32 needs a CUDA GPU (TF32 matmuls); use fp32 or bf16 on the CPU"
    assert precision_reason("bf16", "cuda", (7, 0)).startswith("precision bf16 needs compute capability 8.0")
    assert precision_reason("bf16", "cpu", None) is None
    assert {n: r.cpu_stand_in for n, r in PRECISIONS.items()} == {"fp32": "fp32", "tf32": "fp32", "amp": "bf16",
                                                                 "bf16": "bf16"}


def test_the_policy_takes_its_dtype_and_loss_scale_from_the_row() -> None:
    import torch

    from dlrmbench_plugins.families.dlrm_verify import TOLERANCES
    from dlrmbench.workload.precision import apply_precision

    cpu = torch.device("cpu")
    assert apply_precision(Case(name="x", device="cpu", precision="bf16"), cpu).autocast_dtype == torch.bfloat16
    amp = apply_precision(Case(name="x", device="cuda", precision="amp"), cpu)
    assert amp.autocast_dtype == torch.float16 and amp.static_loss_scale == 1024.0
    assert TOLERANCES == {"fp32": 1e-5, "amp": 1e-2, "bf16": 1e-2}
