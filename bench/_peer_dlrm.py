"""facebookresearch/dlrm's ``DLRM_Net``, imported from a checkout the user names (never vendored).

    from _peer_dlrm import PeerDlrm
    peer = PeerDlrm.load("/path/to/dlrm")            # a clone of github.com/facebookresearch/dlrm
    model = peer.build(table_sizes, dim, bottom, top)

The checkout's ``dlrm_s_pytorch.py`` imports ``torch.utils.tensorboard`` at module level (for its
command-line driver, not for the model); when the ``tensorboard`` package is missing that import
alone would fail, so an empty stand-in module is registered for it before the import.
``DLRM_Net`` is built as its driver builds it for ``--arch-interaction-op dot`` on one device:
``nn.EmbeddingBag(sparse=True)`` tables, ReLU MLPs, a sigmoid on the last top layer, BCE loss, and
trained with ``torch.optim.SGD`` over all parameters.
"""

from __future__ import annotations

import importlib
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch


@dataclass
class PeerDlrm:
    module: Any
    path: Path

    @classmethod
    def load(cls, path: str | Path) -> "PeerDlrm":
        root = Path(path).resolve()
        if not (root / "dlrm_s_pytorch.py").is_file():
            raise SystemExit(f"--peer-dlrm {path}: no dlrm_s_pytorch.py there; give a clone of "
                             "https://github.com/facebookresearch/dlrm")
        if importlib.util.find_spec("tensorboard") is None and "torch.utils.tensorboard" not in sys.modules:
            stand_in = types.ModuleType("torch.utils.tensorboard")
            stand_in.SummaryWriter = None  # type: ignore[attr-defined]
            sys.modules["torch.utils.tensorboard"] = stand_in
        sys.path.insert(0, str(root))
        try:
            module = importlib.import_module("dlrm_s_pytorch")
        finally:
            sys.path.remove(str(root))
        return cls(module, root)

    def commit(self) -> str:
        head = self.path / ".git" / "HEAD"
        try:
            ref = head.read_text().strip()
            if ref.startswith("ref: "):
                return (self.path / ".git" / ref[5:]).read_text().strip()[:12]
            return ref[:12]
        except OSError:
            return "unknown"

    def build(self, table_sizes: list[int], dim: int, bottom: list[int], top: list[int], num_numerical: int = 13,
              seed: int = 1) -> torch.nn.Module:
        """``DLRM_Net`` for the shape: bottom ``13-...-dim``, top ``(n(n-1)/2 + dim)-...-1``."""
        np.random.seed(seed)  # DLRM_Net draws its initial weights from numpy's global generator
        n = len(table_sizes) + 1
        ln_bot = np.array([num_numerical, *bottom])
        ln_top = np.array([n * (n - 1) // 2 + dim, *top])
        return self.module.DLRM_Net(m_spa=dim, ln_emb=np.array(table_sizes), ln_bot=ln_bot, ln_top=ln_top,
                                    arch_interaction_op="dot", arch_interaction_itself=False,
                                    sigmoid_bot=-1, sigmoid_top=ln_top.size - 2, ndevices=-1,
                                    loss_function="bce")


def peer_inputs(numerical: torch.Tensor, categorical: Any) -> tuple[torch.Tensor, Any, list]:
    """dlrmbench's batch as ``DLRM_Net.forward``'s (dense_x, lS_o, lS_i): per feature, bag offsets and ids.

    ``categorical`` is ``(B, F)`` one-hot ids or a fixed-hotness ``SparseFeatures`` (multi-hot).
    """
    if isinstance(categorical, torch.Tensor):
        batch, features = categorical.shape
        offsets = torch.arange(batch).unsqueeze(0).expand(features, batch).contiguous()
        return numerical, offsets, [categorical[:, f].contiguous() for f in range(features)]
    batch, starts = categorical.batch_size, categorical.feature_starts()
    offsets = [torch.arange(batch) * hot for hot in categorical.hotness]
    ids = [categorical.values[starts[f]:starts[f + 1]].contiguous() for f in range(categorical.num_features)]
    return numerical, offsets, ids
