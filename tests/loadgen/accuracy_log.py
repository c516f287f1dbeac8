"""LoadGen's accuracy log read by the tests themselves, independently of dlrmbench's reader."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def decoded_accuracy_log(folder: Path) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """``folder/mlperf_log_accuracy.json`` decoded: first record per qsl_idx, float32 (output, label) pairs."""
    seen, pairs, order = set(), [], []
    for record in json.loads((folder / "mlperf_log_accuracy.json").read_text()):
        if record["qsl_idx"] in seen:
            continue
        seen.add(record["qsl_idx"])
        order.append(record["qsl_idx"])
        pairs.append(np.frombuffer(bytes.fromhex(record["data"]), dtype="<f4").reshape(-1, 2))
    both = np.concatenate(pairs)
    return both[:, 0], both[:, 1], order
