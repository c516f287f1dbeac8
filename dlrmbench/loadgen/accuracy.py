"""LoadGen's accuracy log (``mlperf_log_accuracy.json``) read back as the reference's accuracy script does.

Each record is ``{seq_id, qsl_idx, data}`` with ``data`` the hex of the sample's response: float32
``(output, label)`` pairs, one per data row. Records are de-duplicated by ``qsl_idx`` (the first kept), as
``tools/accuracy-dlrm.py`` of the DLRMv2 reference does, and the rows of every sample concatenated in the
order of the log.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from dlrmbench.errors import UserError

ACCURACY = "mlperf_log_accuracy.json"
#: The DLRMv2 gates: the served AUC must reach these fractions of the fp32 reference's.
TARGETS = {"99%": 0.99, "99.9%": 0.999}


def read_outputs(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(outputs, labels, qsl indices of each row) from an accuracy log."""
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
        pairs = np.frombuffer(bytes.fromhex(record["data"]), dtype=np.float32).reshape(-1, 2)
        parts.append(pairs)
        owners.append(np.full(pairs.shape[0], index, dtype=np.int64))
    if not parts:
        raise UserError(f"{path}: the accuracy log holds no samples (was the run in accuracy mode?)")
    pairs = np.concatenate(parts)
    return pairs[:, 0].copy(), pairs[:, 1].copy(), np.concatenate(owners)


def auc(outputs: np.ndarray, labels: np.ndarray) -> float:
    """ROC AUC of ``outputs`` against 0/1 ``labels`` (dlrmbench's exact AUC, ties as scikit-learn)."""
    import torch

    from dlrmbench.metrics.auc import roc_auc

    return roc_auc(torch.from_numpy(np.asarray(outputs, dtype=np.float64)),
                   torch.from_numpy(np.asarray(labels, dtype=np.float64)))


def gates(served_auc: float, reference_auc: float) -> dict[str, bool | None]:
    """Whether the served AUC reaches each target fraction of the reference's (None when either is NaN)."""
    if math.isnan(served_auc) or math.isnan(reference_auc):
        return {name: None for name in TARGETS}
    return {name: bool(served_auc >= fraction * reference_auc) for name, fraction in TARGETS.items()}
