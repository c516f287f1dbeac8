"""LoadGen's accuracy log (``mlperf_log_accuracy.json``) read back as the reference's accuracy script does.

Each record is ``{seq_id, qsl_idx, data}`` with ``data`` the hex of the sample's response: one row per data
row, the output's bytes then the label's (:class:`Layout`; DLRM: float32 ``(output, label)`` pairs). Records are de-duplicated by ``qsl_idx`` (the first kept), as
``tools/accuracy-dlrm.py`` of the DLRMv2 reference does, and the rows of every sample concatenated in the
order of the log.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dlrmbench.errors import UserError

ACCURACY = "mlperf_log_accuracy.json"
#: The DLRMv2 gates: the served AUC must reach these fractions of the fp32 reference's.
TARGETS = {"99%": 0.99, "99.9%": 0.999}


@dataclass(frozen=True)
class Layout:
    """How a response row is laid out: ``output_width`` values of ``output_dtype``, then ``label_width`` of
    ``label_dtype`` (the reference's DLRM pairs: one float32 each)."""

    output_dtype: str = "float32"
    output_width: int = 1
    label_dtype: str = "float32"
    label_width: int = 1

    @property
    def row_bytes(self) -> int:
        return (np.dtype(self.output_dtype).itemsize * self.output_width
                + np.dtype(self.label_dtype).itemsize * self.label_width)

    @classmethod
    def of(cls, outputs: np.ndarray, labels: np.ndarray) -> "Layout":
        """The layout of a model's outputs and labels for a batch (rows first)."""
        def width(a: np.ndarray) -> int:
            return int(np.prod(a.shape[1:])) if a.ndim > 1 else 1
        out_dtype = outputs.dtype if outputs.ndim > 1 else np.dtype(np.float32)  # 1-D: float32 pairs (sut)
        return cls(str(out_dtype), width(outputs), str(labels.dtype), width(labels))


def read_responses(path: Path, layout: Layout) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(outputs (rows, W), labels (rows, L), qsl index of each row) from an accuracy log of ``layout`` rows."""
    try:
        records = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: not a LoadGen accuracy log ({exc})") from None
    seen: set[int] = set()
    parts, owners = [], []
    for record in records:
        index = int(record["qsl_idx"])
        if index in seen:
            continue
        seen.add(index)
        raw = bytes.fromhex(record["data"])
        if len(raw) % layout.row_bytes:
            raise UserError(f"{path}: sample {index}'s response holds {len(raw)} bytes, not whole rows of "
                            f"{layout.row_bytes} ({layout})")
        rows = np.frombuffer(raw, dtype=np.uint8).reshape(-1, layout.row_bytes)
        parts.append(rows)
        owners.append(np.full(rows.shape[0], index, dtype=np.int64))
    if not parts:
        raise UserError(f"{path}: the accuracy log holds no samples (was the run in accuracy mode?)")
    rows = np.concatenate(parts)
    split = np.dtype(layout.output_dtype).itemsize * layout.output_width
    outputs = np.ascontiguousarray(rows[:, :split]).view(layout.output_dtype).reshape(-1, layout.output_width)
    labels = np.ascontiguousarray(rows[:, split:]).view(layout.label_dtype).reshape(-1, layout.label_width)
    return outputs, labels, np.concatenate(owners)


def read_outputs(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(outputs, labels, qsl indices of each row) from an accuracy log of float32 ``(output, label)`` pairs."""
    outputs, labels, owners = read_responses(path, Layout())
    return outputs[:, 0].copy(), labels[:, 0].copy(), owners


def auc(outputs: np.ndarray, labels: np.ndarray) -> float:
    """ROC AUC of ``outputs`` against 0/1 ``labels`` (dlrmbench's exact AUC, ties as scikit-learn)."""
    import torch

    from dlrmbench.metrics.auc import roc_auc

    return roc_auc(torch.from_numpy(np.asarray(outputs, dtype=np.float64)),
                   torch.from_numpy(np.asarray(labels, dtype=np.float64)))


def gates(served_auc: float, reference_auc: float, higher_is_better: bool = True) -> dict[str, bool | None]:
    """Whether the served value reaches each target fraction of the reference's (None when either is NaN); for a
    metric where lower is better (NE) the reference must reach the fraction of the served value instead."""
    if math.isnan(served_auc) or math.isnan(reference_auc):
        return {name: None for name in TARGETS}
    if not higher_is_better:
        return {name: bool(reference_auc >= fraction * served_auc) for name, fraction in TARGETS.items()}
    return {name: bool(served_auc >= fraction * reference_auc) for name, fraction in TARGETS.items()}
