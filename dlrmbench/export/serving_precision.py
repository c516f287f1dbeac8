"""The served model in a serving precision: fp32 (as exported), bf16, or int8.

- ``bf16``: weights and activations in bfloat16 (ids stay int64); only worth serving where the CPU has
  native bf16 (:func:`dlrmbench.cpu_features.native_bf16_reason`; the planner skips elsewhere).
- ``int8``: the MLPs' ``nn.Linear`` layers dynamically quantised (int8 weights, activations quantised per
  batch: ``torch.ao.quantization.quantize_dynamic``) and the tables row-wise quantised to 8 or 4 bits per
  entry with a float scale and bias per row (``torch.ops.quantized.embedding_bag_{byte,4bit}_*``, PyTorch's
  FBGEMM kernels on x86).

Outputs stay float32 logits ``(B, 1)``, so every check and the accuracy mode read them as the fp32 model's.

:func:`export_modules` builds each precision's graphs for a format:

- TorchScript (and the pytorch serving targets, :func:`in_precision`): the modules above; the int8 graph calls
  FBGEMM's quantised linear and embedding-bag ops.
- ONNX: bf16 as above; int8 as :class:`RowwiseTables` (FBGEMM's packed rows as uint8 codes with a float scale
  and bias per row: gather, unpack, ``code * scale + bias``, the same numbers as FBGEMM's kernels) and an MLP of
  ``MatMul`` nodes that :func:`dlrmbench.export.formats.quantize_onnx` then quantises with ONNX Runtime's
  ``quantize_dynamic`` (7-bit int8 weights, uint8 activations quantised per batch).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from dlrmbench.export.serving_model import DenseTower, ServingDlrm, SparseLookup

#: Largest |served - fp32| of the predicted probability a precision is held to by the checks (sigmoid space,
#: where outputs live in [0, 1]): bf16 keeps 8 mantissa bits; int8 tables and MLPs lose more.
PROBABILITY_TOLERANCE = {"fp32": 1e-5, "bf16": 2e-2, "int8": 5e-2}


class QuantizedSparseLookup(nn.Module):
    """:class:`SparseLookup` over row-wise quantised tables: one embedding-bag call for every (sample, feature)."""

    def __init__(self, sparse: SparseLookup, bits: int) -> None:
        super().__init__()
        packed = packed_rows(sparse.weight, bits)
        self._bag = (torch.ops.quantized.embedding_bag_byte_rowwise_offsets if bits == 8
                     else torch.ops.quantized.embedding_bag_4bit_rowwise_offsets)
        self.register_buffer("packed", packed)
        self.register_buffer("offsets", sparse.offsets.clone())
        self.register_buffer("sizes", sparse.sizes.clone())
        self.hash_indices, self.bits = sparse.hash_indices, bits
        starts = [a for a, _ in sparse.spans]
        self.register_buffer("bag_starts", torch.tensor(starts, dtype=torch.int64))
        self.num_ids, self.num_features = int(sparse.offsets.numel()), len(starts)

    def forward(self, categorical: torch.Tensor) -> torch.Tensor:
        ids = torch.remainder(categorical, self.sizes) if self.hash_indices else categorical
        flat = (ids + self.offsets).reshape(-1)
        batch = categorical.shape[0]
        rows = torch.arange(batch, dtype=torch.int64).unsqueeze(1) * self.num_ids
        bags = (rows + self.bag_starts).reshape(-1)  # each bag's start; the last runs to the end (traceable)
        pooled = self._bag(self.packed, flat, bags, False, 0, False, None, None, False)
        return pooled.reshape(batch, self.num_features, -1)


def quantized_dense(dense: DenseTower) -> DenseTower:
    """A copy of ``dense`` with its ``nn.Linear`` layers dynamically quantised (``torch.ao``, FBGEMM on x86)."""
    import warnings

    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():  # "quantized tensor creation functions ... are deprecated": still the API
        warnings.filterwarnings("ignore", message=".*quantized tensor creation functions.*")
        warnings.filterwarnings("ignore", message=".*torch.ao.quantization is deprecated.*")
        quantized = quantize_dynamic(dense, {nn.Linear}, dtype=torch.qint8)
    assert isinstance(quantized, DenseTower)
    return quantized


def in_precision(model: ServingDlrm, precision: str, table_bits: int = 8) -> nn.Module:
    """``model`` (fp32, eval) served in ``precision`` by PyTorch: the graph the TorchScript export traces (fp32
    returns the same modules; bf16 and int8 work on copies)."""
    if precision not in ("fp32", "bf16", "int8"):
        raise ValueError(f"unknown serving precision {precision!r} (fp32, bf16, int8)")
    return export_modules(model.sparse, model.dense, precision, table_bits, "torchscript")["model"]


def packed_rows(weight: torch.Tensor, bits: int) -> torch.Tensor:
    """FBGEMM's row-wise packing of ``weight`` (rows, D): per row the codes, then its scale and bias
    (float32 for 8 bits; float16 for 4 bits, two codes a byte, the even column in the low nibble)."""
    weight = weight.detach().float().contiguous()
    if bits == 8:
        return torch.ops.quantized.embedding_bag_byte_prepack(weight)
    if bits != 4:
        raise ValueError(f"table bits must be 8 or 4, not {bits}")
    if weight.shape[1] % 2:
        raise ValueError(f"4-bit tables pack two entries a byte: the embedding dim must be even (it is "
                         f"{weight.shape[1]}); use table_bits: 8")
    return torch.ops.quantized.embedding_bag_4bit_prepack(weight)


class RowwiseTables(nn.Module):
    """:class:`SparseLookup` over FBGEMM's row-wise quantised rows in portable operators (gather, bit ops,
    multiply-add), so ONNX and any runtime serve the tables :class:`QuantizedSparseLookup` serves."""

    def __init__(self, sparse: SparseLookup, bits: int) -> None:
        super().__init__()
        packed = packed_rows(sparse.weight, bits)
        dim = int(sparse.weight.shape[1])
        width = dim if bits == 8 else dim // 2
        scale_type = torch.float32 if bits == 8 else torch.float16
        scale_bias = packed[:, width:].contiguous().view(scale_type).float()  # (rows, 2)
        self.register_buffer("codes", packed[:, :width].contiguous())
        self.register_buffer("scale", scale_bias[:, 0:1].contiguous())
        self.register_buffer("bias", scale_bias[:, 1:2].contiguous())
        self.register_buffer("offsets", sparse.offsets.clone())
        self.register_buffer("sizes", sparse.sizes.clone())
        self.hash_indices, self.bits, self.dim = sparse.hash_indices, bits, dim
        self.spans, self.one_hot = list(sparse.spans), sparse.one_hot

    def forward(self, categorical: torch.Tensor) -> torch.Tensor:
        ids = torch.remainder(categorical, self.sizes) if self.hash_indices else categorical
        rows = ids + self.offsets  # (B, H)
        codes = self.codes[rows].float()  # (B, H, width): whole numbers 0-255, exact in float32
        if self.bits == 4:  # two codes a byte, low nibble first; float arithmetic (ONNX's BitShift takes no int8)
            high = torch.floor(codes / 16)
            codes = torch.stack([codes - 16 * high, high], dim=-1).reshape(codes.shape[0], codes.shape[1], self.dim)
        looked_up = codes * self.scale[rows] + self.bias[rows]  # (B, H, D)
        if self.one_hot:
            return looked_up
        return torch.stack([looked_up[:, a:b].sum(1) for a, b in self.spans], dim=1)


class MatMulLinear(nn.Module):
    """``nn.Linear`` written as ``x @ W^T + b``: ONNX ``MatMul`` with a constant weight, which ONNX Runtime's
    dynamic quantisation quantises (it leaves ``Gemm``, the exporter's form of ``nn.Linear``, in float)."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.register_buffer("weight_t", linear.weight.detach().t().contiguous())
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.matmul(x, self.weight_t)
        return out if self.bias is None else out + self.bias


def _matmul_linears(module: nn.Module) -> nn.Module:
    """A copy of ``module`` with every ``nn.Linear`` replaced by :class:`MatMulLinear` (same numbers)."""
    module = copy.deepcopy(module)
    for name, child in list(module.named_modules()):
        for attr, sub in list(child.named_children()):
            if isinstance(sub, nn.Linear):
                setattr(child, attr, MatMulLinear(sub))
    return module


class Bf16Sparse(nn.Module):
    """The lookup in bfloat16 (tables and the bag sums), handed on as float32 (the served ``embedded``)."""

    def __init__(self, sparse: SparseLookup) -> None:
        super().__init__()
        self.sparse = sparse.to(torch.bfloat16)

    def forward(self, categorical: torch.Tensor) -> torch.Tensor:
        return self.sparse(categorical).float()


class Bf16Dense(nn.Module):
    """The dense tower in bfloat16: float32 inputs cast in, logits cast back to float32."""

    def __init__(self, dense: DenseTower) -> None:
        super().__init__()
        self.dense = dense.to(torch.bfloat16)

    def forward(self, numerical: torch.Tensor, embedded: torch.Tensor) -> torch.Tensor:
        return self.dense(numerical.to(torch.bfloat16), embedded.to(torch.bfloat16)).float()


def export_modules(sparse: SparseLookup, dense: DenseTower, precision: str, table_bits: int, fmt: str
                   ) -> dict[str, nn.Module]:
    """The served graphs (``model``, ``sparse``, ``dense``) of ``precision`` as format ``fmt`` writes them;
    ``sparse`` and ``dense`` are copied, never changed. An ONNX int8 graph still needs
    :func:`dlrmbench.export.formats.quantize_onnx` on the written file for its int8 MLPs."""
    if precision == "fp32":
        return {"model": ServingDlrm(sparse, dense).eval(), "sparse": sparse, "dense": dense}
    if precision == "bf16":
        parts: tuple[nn.Module, nn.Module] = (Bf16Sparse(copy.deepcopy(sparse)), Bf16Dense(copy.deepcopy(dense)))
    elif precision == "int8" and fmt == "torchscript":
        parts = (QuantizedSparseLookup(sparse, table_bits), quantized_dense(dense))
    elif precision == "int8" and fmt == "onnx":
        parts = (RowwiseTables(sparse, table_bits), _matmul_linears(dense))
    else:
        raise ValueError(f"no {precision} export for format {fmt}")
    return {"model": ServingDlrm(*parts).eval(), "sparse": parts[0].eval(), "dense": parts[1].eval()}


def served_table_bytes(rows: int, dim: int, precision: str, table_bits: int) -> int:
    """Bytes the served tables hold in ``precision`` (int8: codes plus each row's scale and bias)."""
    if precision == "int8":
        return rows * (dim + 8 if table_bits == 8 else dim // 2 + 4)
    return rows * dim * (2 if precision == "bf16" else 4)
