"""Jagged sequences: B users' histories as one values tensor plus offsets (as TorchRec's JaggedTensor).

A :class:`SequenceBatch` is what the HSTU family's readers yield and its model consumes: item ids,
timestamps and ratings of every history item, concatenated user after user (``offsets[b]`` ..
``offsets[b + 1]``), and each user's next item (the target). Nothing is padded; :class:`PaddedIndex`
pads on demand for the code that needs a dense (B, L) layout, and says how long it padded to.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch


@dataclass(frozen=True)
class SequenceBatch:
    """One batch of user histories (jagged) and their targets.

    Attributes:
        ids: (T,) int64 history item ids, in time order within each user; ids are >= 1.
        timestamps: (T,) int64 seconds, one per history item.
        ratings: (T,) int64 ratings (0 when the data has none).
        offsets: (B + 1,) int64; user b's history is values[offsets[b]:offsets[b + 1]], never empty.
        target_ids: (B,) int64, the item to predict after each history.
        target_timestamps: (B,) int64.
        target_ratings: (B,) int64.
    """

    ids: torch.Tensor
    timestamps: torch.Tensor
    ratings: torch.Tensor
    offsets: torch.Tensor
    target_ids: torch.Tensor
    target_timestamps: torch.Tensor
    target_ratings: torch.Tensor

    @property
    def batch_size(self) -> int:
        return self.offsets.numel() - 1

    @property
    def lengths(self) -> torch.Tensor:
        return self.offsets[1:] - self.offsets[:-1]

    @property
    def num_items(self) -> int:
        """History items in the batch (the tokens the encoder processes)."""
        return self.ids.numel()

    def to(self, device: str | torch.device) -> "SequenceBatch":
        return SequenceBatch(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})

    def next_timestamps(self) -> torch.Tensor:
        """(T,) the timestamp of the item after each history item: the next one, or the target for the last.

        This is what the reference's time bias subtracts from (``ext_timestamps[:, 1:]`` after the target's
        timestamp is scattered at index ``length``: ``features.py``, ``hstu.py``).
        """
        nxt = torch.empty_like(self.timestamps)
        nxt[:-1] = self.timestamps[1:]
        nxt[self.offsets[1:] - 1] = self.target_timestamps
        return nxt

    def supervision_ids(self) -> torch.Tensor:
        """(T,) the id each position is trained to predict: the next history item, or the target for the last."""
        nxt = torch.empty_like(self.ids)
        nxt[:-1] = self.ids[1:]
        nxt[self.offsets[1:] - 1] = self.target_ids
        return nxt


def offsets_from_lengths(lengths: torch.Tensor) -> torch.Tensor:
    """(B + 1,) exclusive cumulative sum of lengths, starting at 0 (fbgemm's asynchronous_complete_cumsum)."""
    out = torch.zeros(lengths.numel() + 1, dtype=torch.int64, device=lengths.device)
    torch.cumsum(lengths, 0, out=out[1:])
    return out


def positions(offsets: torch.Tensor) -> torch.Tensor:
    """(T,) the position of each value inside its own sequence (0 for the first item of every user)."""
    lengths = offsets[1:] - offsets[:-1]
    total = int(offsets[-1])
    starts = torch.repeat_interleave(offsets[:-1], lengths, output_size=total)
    return torch.arange(total, device=offsets.device) - starts


class PaddedIndex:
    """Moves jagged values to a dense (B, L, ...) layout and back, L = the batch's longest sequence.

    Args:
        offsets: (B + 1,) int64.
        max_length: pad to this length instead of the batch's longest (must not be shorter).
    """

    def __init__(self, offsets: torch.Tensor, max_length: int | None = None) -> None:
        lengths = offsets[1:] - offsets[:-1]
        longest = int(lengths.max()) if lengths.numel() else 0
        self.length = longest if max_length is None else max_length
        if self.length < longest:
            raise ValueError(f"max_length {max_length} is shorter than the longest sequence ({longest})")
        total = int(offsets[-1])
        col = torch.arange(self.length, device=offsets.device)
        self.valid = col.unsqueeze(0) < lengths.unsqueeze(1)  # (B, L)
        gather = offsets[:-1].unsqueeze(1) + col.unsqueeze(0)
        self.gather = torch.where(self.valid, gather, torch.full_like(gather, total))  # pad -> extra zero row
        self.total = total

    def to_padded(self, values: torch.Tensor, pad: float | int = 0) -> torch.Tensor:
        """(T, ...) -> (B, L, ...), ``pad`` where a sequence has ended."""
        filler = values.new_full((1,) + tuple(values.shape[1:]), pad)
        return torch.cat([values, filler])[self.gather]

    def to_jagged(self, padded: torch.Tensor) -> torch.Tensor:
        """(B, L, ...) -> (T, ...): the valid rows in order (fbgemm's dense_to_jagged)."""
        return padded[self.valid]
