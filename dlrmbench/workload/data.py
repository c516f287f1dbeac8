"""The batch type and dataset contract every dataset plugin implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Protocol, Sized

import torch


@dataclass
class Batch:
    """One batch: ``numerical (B, 13)`` float, ``categorical (B, F)`` int64, ``label (B,)`` float32."""

    numerical: torch.Tensor
    categorical: torch.Tensor
    label: torch.Tensor

    @property
    def size(self) -> int:
        return int(self.label.shape[0])

    def to(self, device: torch.device | str, non_blocking: bool = False) -> "Batch":
        return Batch(
            self.numerical.to(device, non_blocking=non_blocking),
            self.categorical.to(device, non_blocking=non_blocking),
            self.label.to(device, non_blocking=non_blocking),
        )


class BatchStream(Sized, Protocol):
    """A re-iterable sequence of batches with a known length (batches per epoch)."""

    def __iter__(self) -> Iterator[Batch]: ...


class Dataset(Protocol):
    """What a dataset plugin's factory returns, given ``(options, case)``."""

    def table_sizes(self) -> list[int] | None:
        """Rows of each categorical table, or None when the suite must give them."""

    # Optional attribute ``ids_validated``: True when every categorical id the dataset will yield was
    # already checked against the table sizes the model uses (the model then skips its per-batch check).

    def batches(self, split: str, batch_size: int, device: torch.device) -> BatchStream:
        """Batches of ``split`` (``train`` or ``test``). ``device`` is where the model runs:
        a dataset may place batches there already (synthetic on the device) or leave them on the
        host; the loop moves them and counts the copy."""
