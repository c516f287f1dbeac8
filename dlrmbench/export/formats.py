"""Writing one served module as ONNX or TorchScript, with a dynamic batch dimension."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch

#: ONNX opset of the exported graphs (ONNX Runtime 1.16+, Triton 23.10+ read it).
ONNX_OPSET = 18
#: Above this many bytes of weights, ONNX keeps them in a side file (protobuf's 2 GiB limit).
ONNX_EXTERNAL_DATA_BYTES = 1 << 30


def _weight_bytes(module: torch.nn.Module) -> int:
    tensors = list(module.parameters()) + list(module.buffers())
    return sum(t.numel() * t.element_size() for t in tensors)


def write_onnx(module: torch.nn.Module, example: tuple[torch.Tensor, ...], input_names: list[str],
               output_names: list[str], path: Path, dynamic_shapes: dict[str, Any] | None = None) -> None:
    """Export ``module`` to ``path`` with named inputs/outputs and dimension 0 named ``batch``.

    Uses the dynamo-based exporter (``torch.export`` + onnxscript). Weights above
    :data:`ONNX_EXTERNAL_DATA_BYTES` go to ``<file>.data`` beside the model, which ONNX Runtime
    and Triton's ONNX Runtime backend load from the same folder. ``dynamic_shapes`` (``torch.export``'s, per
    input name) replaces the default of a dynamic dimension 0 on every input (jagged inputs: tokens, batch + 1).
    """
    import logging

    logging.getLogger("torch.onnx").setLevel(logging.ERROR)  # "torchvision is not installed" notices
    batch = torch.export.Dim("batch", min=1, max=1 << 20)
    dynamic = dynamic_shapes if dynamic_shapes is not None else {name: {0: batch} for name in input_names}
    external = _weight_bytes(module) > ONNX_EXTERNAL_DATA_BYTES
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(module.eval(), example, input_names=input_names, output_names=output_names,
                                    dynamic_shapes=dynamic, opset_version=ONNX_OPSET, dynamo=True,
                                    external_data=external, verbose=False)
        program.save(str(path), external_data=external)


def write_torchscript(module: torch.nn.Module, example: tuple[torch.Tensor, ...], path: Path) -> None:
    """Trace ``module`` (as NVIDIA's deployer's ``--ts-trace``) and save it; the batch stays dynamic
    because no operation of the served modules depends on a concrete batch size."""
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(module.eval(), example, check_trace=False)
        traced = torch.jit.freeze(traced) if not _is_huge(module) else traced
        traced.save(str(path))


def _is_huge(module: torch.nn.Module) -> bool:
    return _weight_bytes(module) > ONNX_EXTERNAL_DATA_BYTES


def quantize_onnx(path: Path) -> None:
    """Quantise the ``MatMul`` nodes with a constant weight of the ONNX file at ``path``, in place, with ONNX
    Runtime's ``quantize_dynamic``: int8 weights (per tensor), uint8 activations quantised per batch at run
    time, as ``torch.ao``'s dynamic quantisation does for the TorchScript graph. Activation-by-activation
    products (the dot interaction) stay float. Weights use 7 bits (``reduce_range``): ONNX Runtime's u8s8
    kernels on x86 without VNNI sum pairs of products in saturating 16-bit lanes; with 8-bit weights the check
    measured logit errors of 0.16 against 0.01 (bench/export_tolerances.py), as FBGEMM reduces its range too."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    if any(p.name != path.name for p in path.parent.iterdir()):
        from dlrmbench.errors import UserError

        raise UserError(f"int8 ONNX export: {path.name} keeps its weights in a side file (over "
                        f"{ONNX_EXTERNAL_DATA_BYTES:,} bytes), which this quantisation step does not rewrite; "
                        "export int8 as --format torchscript, or with --split always")
    staged = path.with_name(f".{path.name}.int8")
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # quantize_dynamic's "consider pre-processing" advice, on the root logger
    try:
        quantize_dynamic(path, staged, op_types_to_quantize=["MatMul"], weight_type=QuantType.QInt8,
                         per_channel=False, reduce_range=True, extra_options={"MatMulConstBOnly": True})
        staged.replace(path)
    finally:
        root.setLevel(level)
        staged.unlink(missing_ok=True)
