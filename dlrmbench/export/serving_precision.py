"""The served model in a serving precision: fp32 (as exported), bf16, or int8.

- ``bf16``: weights and activations in bfloat16 (ids stay int64); only worth serving where the CPU has
  native bf16 (:func:`dlrmbench.cpu_features.native_bf16_reason`; the planner skips elsewhere).
- ``int8``: the MLPs' ``nn.Linear`` layers dynamically quantised (int8 weights, activations quantised per
  batch: ``torch.ao.quantization.quantize_dynamic``) and the tables row-wise quantised to 8 or 4 bits per
  entry with a float scale and bias per row (``torch.ops.quantized.embedding_bag_{byte,4bit}_*``, PyTorch's
  FBGEMM kernels on x86).

Outputs stay float32 logits ``(B, 1)``, so every check and the accuracy mode read them as the fp32 model's.
"""

from __future__ import annotations

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
        weight = sparse.weight.detach().float().contiguous()
        if bits == 8:
            packed = torch.ops.quantized.embedding_bag_byte_prepack(weight)
            self._bag = torch.ops.quantized.embedding_bag_byte_rowwise_offsets
        elif bits == 4:
            packed = torch.ops.quantized.embedding_bag_4bit_prepack(weight)
            self._bag = torch.ops.quantized.embedding_bag_4bit_rowwise_offsets
        else:
            raise ValueError(f"table bits must be 8 or 4, not {bits}")
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
        bags = torch.cat([(rows + self.bag_starts).reshape(-1), flat.new_tensor([flat.numel()])])
        pooled = self._bag(self.packed, flat, bags, False, 0, False, None, None, True)
        return pooled.reshape(batch, self.num_features, -1)


class Bf16Serving(nn.Module):
    """The whole model in bfloat16: float inputs cast in, logits cast back to float32."""

    def __init__(self, model: ServingDlrm) -> None:
        super().__init__()
        self.model = model.to(torch.bfloat16)

    def forward(self, numerical: torch.Tensor, categorical: torch.Tensor) -> torch.Tensor:
        return self.model(numerical.to(torch.bfloat16), categorical).float()


def in_precision(model: ServingDlrm, precision: str, table_bits: int = 8) -> nn.Module:
    """``model`` (fp32, eval) served in ``precision``; fp32 returns it unchanged."""
    if precision == "fp32":
        return model
    if precision == "bf16":
        return Bf16Serving(model).eval()
    if precision == "int8":
        from torch.ao.quantization import quantize_dynamic

        dense = quantize_dynamic(model.dense, {nn.Linear}, dtype=torch.qint8)
        assert isinstance(dense, DenseTower)
        return ServingDlrm(QuantizedSparseLookup(model.sparse, table_bits), dense).eval()  # type: ignore[arg-type]
    raise ValueError(f"unknown serving precision {precision!r} (fp32, bf16, int8)")
