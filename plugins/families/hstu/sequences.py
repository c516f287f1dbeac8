"""All users' interaction sequences, jagged, and the reference's leave-one-out split into batches.

GR's research split (``research/data/reco_dataset.py``, ``dataset.py`` with ``chronological=True``): training
drops each user's last item (``ignore_last_n=1``), then predicts the item before it from the rest; evaluation
predicts the last item from everything before it, for every user. A history keeps its last
``max_sequence_length`` items. Both splits cover every user; there is no separate validation set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Literal

import torch

from dlrmbench_plugins.families.hstu.jagged import SequenceBatch, offsets_from_lengths, positions

Split = Literal["train", "eval"]


@dataclass(frozen=True)
class UserSequences:
    """Every user's items in time order: ids, timestamps, ratings as values + offsets (U + 1,).

    Attributes:
        num_items: the largest item id the model must embed (ids are 1..num_items).
        all_item_ids: the candidate items ranked at evaluation (sorted, unique).
    """

    ids: torch.Tensor
    timestamps: torch.Tensor
    ratings: torch.Tensor
    offsets: torch.Tensor
    num_items: int
    all_item_ids: torch.Tensor

    @property
    def num_users(self) -> int:
        return self.offsets.numel() - 1

    def history_bounds(self, split: Split, max_length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(U,) first history index and (U,) target index of every user in ``split``."""
        drop = 2 if split == "train" else 1
        target = self.offsets[1:] - drop
        start = torch.maximum(self.offsets[:-1], target - max_length)
        return start, target

    def batch(self, users: torch.Tensor, split: Split, max_length: int) -> SequenceBatch:
        """The ``split`` batch of these users (a (B,) index tensor)."""
        start, target = self.history_bounds(split, max_length)
        start, target = start[users], target[users]
        lengths = target - start
        offsets = offsets_from_lengths(lengths)
        index = torch.repeat_interleave(start, lengths) + positions(offsets)
        return SequenceBatch(ids=self.ids[index], timestamps=self.timestamps[index], ratings=self.ratings[index],
                             offsets=offsets, target_ids=self.ids[target],
                             target_timestamps=self.timestamps[target], target_ratings=self.ratings[target])

    def user_chunks(self, batch_size: int, shuffle: bool, seed: int = 0) -> Iterator[torch.Tensor]:
        """The users of each batch, in order (a seeded permutation when ``shuffle``); the last may be short."""
        order = (torch.randperm(self.num_users, generator=torch.Generator().manual_seed(seed)) if shuffle
                 else torch.arange(self.num_users))
        for lo in range(0, self.num_users, batch_size):
            yield order[lo:lo + batch_size]

    def batches(self, split: Split, batch_size: int, max_length: int, shuffle: bool,
                seed: int = 0) -> Iterator[SequenceBatch]:
        """Batches of ``batch_size`` users."""
        for users in self.user_chunks(batch_size, shuffle, seed):
            yield self.batch(users, split, max_length)
