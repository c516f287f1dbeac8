"""Triton Inference Server model configuration (``config.pbtxt``) as text; no torch, no protobuf.

Layout written by the exporter (``<name>`` is ``--model-name``, default ``dlrm``)::

    triton/<name>/config.pbtxt, triton/<name>/1/model.onnx            one graph (ONNX Runtime backend)
    triton/<name>_torchscript/config.pbtxt, .../1/model.pt           one graph (PyTorch backend)

and when the tables are kept out of the dense graph (``--split``), per format::

    <name>_sparse (ids -> vectors, host memory: KIND_CPU), <name>_dense (the MLPs, on the chosen
    instance kind), and <name> (an ``ensemble`` with the one-graph model's inputs and outputs).

Tensor names: ONNX models use the graph's names (``numerical``, ``categorical``, ``logit``, and
``embedded`` between the parts). TorchScript models carry no names, so they follow the PyTorch
backend's ``<name>__<index>`` convention (``numerical__0``, ``categorical__1``, ``logit__0``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: torch dtype name -> Triton data type.
TRITON_TYPES = {"float32": "TYPE_FP32", "float16": "TYPE_FP16", "int64": "TYPE_INT64", "int32": "TYPE_INT32"}
PLATFORMS = {"onnx": "onnxruntime_onnx", "torchscript": "pytorch_libtorch"}
MODEL_FILES = {"onnx": "model.onnx", "torchscript": "model.pt"}


@dataclass(frozen=True)
class Tensor:
    """One served tensor: its name, Triton type and per-sample dims (the batch dimension excluded)."""

    name: str
    dtype: str
    dims: tuple[int, ...]


@dataclass(frozen=True)
class Batching:
    """Server-side batching: requests are merged up to ``max_batch_size`` samples."""

    max_batch_size: int = 65536
    preferred_batch_sizes: tuple[int, ...] = ()
    max_queue_delay_us: int = 100
    instance_kind: str = "KIND_GPU"
    instances: int = 1


@dataclass
class ModelConfig:
    """One model of the repository: a runnable model or an ensemble of two steps."""

    name: str
    platform: str
    inputs: list[Tensor]
    outputs: list[Tensor]
    batching: Batching
    instance_kind: str | None = None  # None: the batching's kind
    steps: list[tuple[str, dict[str, str], dict[str, str]]] = field(default_factory=list)  # ensemble only

    def render(self) -> str:
        """The ``config.pbtxt`` text (protobuf text format of Triton's ``ModelConfig``)."""
        lines = [f'name: "{self.name}"', f'platform: "{self.platform}"',
                 f"max_batch_size: {self.batching.max_batch_size}"]
        lines += _tensors("input", self.inputs) + _tensors("output", self.outputs)
        if self.platform == "ensemble":
            lines.append("ensemble_scheduling {")
            lines.append("  step [")
            for i, (model, inputs, outputs) in enumerate(self.steps):
                lines.append("    {")
                lines.append(f'      model_name: "{model}"')
                lines.append("      model_version: -1")
                for key, value in inputs.items():
                    lines.append(f'      input_map {{ key: "{key}" value: "{value}" }}')
                for key, value in outputs.items():
                    lines.append(f'      output_map {{ key: "{key}" value: "{value}" }}')
                lines.append("    }" + ("," if i < len(self.steps) - 1 else ""))
            lines.append("  ]")
            lines.append("}")
        else:
            b = self.batching
            lines.append(f"instance_group [ {{ count: {b.instances} kind: {self.instance_kind or b.instance_kind} }} ]")
            lines.append("dynamic_batching {")
            if b.preferred_batch_sizes:
                lines.append(f"  preferred_batch_size: [ {', '.join(str(s) for s in b.preferred_batch_sizes)} ]")
            lines.append(f"  max_queue_delay_microseconds: {b.max_queue_delay_us}")
            lines.append("}")
        return "\n".join(lines) + "\n"


def _tensors(kind: str, tensors: list[Tensor]) -> list[str]:
    lines = [f"{kind} ["]
    for i, t in enumerate(tensors):
        dims = ", ".join(str(d) for d in t.dims)
        sep = "," if i < len(tensors) - 1 else ""
        lines.append(f'  {{ name: "{t.name}" data_type: {t.dtype} dims: [ {dims} ] }}{sep}')
    lines.append("]")
    return lines


def served_names(fmt: str, names: list[str]) -> list[str]:
    """Tensor names as the backend sees them: ONNX keeps graph names; TorchScript ``name__index``."""
    return list(names) if fmt == "onnx" else [f"{n}__{i}" for i, n in enumerate(names)]


def model_names(base: str, fmt: str) -> dict[str, str]:
    """Repository names of the one-graph (or ensemble) model and of the split parts, per format."""
    root = base if fmt == "onnx" else f"{base}_torchscript"
    return {"model": root, "sparse": f"{root}_sparse", "dense": f"{root}_dense"}
