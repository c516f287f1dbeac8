"""The parts of a TorchRec table that this rank holds (imports torch)."""

from __future__ import annotations

import torch
from torch import nn


def local_parts(collection: nn.Module, index: int) -> list[tuple[tuple[int, int], torch.Tensor]]:
    """The parts of table ``index`` (``embedding_bags.table_<index>.weight``) of a TorchRec collection held
    here, each as its ``(row, column)`` offset in the table and its tensor (writing it writes the table): a
    sharded collection's local shards, an unsharded one's whole table; none on the meta device."""
    value = collection.state_dict(keep_vars=True)[f"embedding_bags.table_{index}.weight"]
    if hasattr(value, "local_shards"):  # ShardedTensor: the shards this rank holds
        return [((int(s.metadata.shard_offsets[0]), int(s.metadata.shard_offsets[1])), s.tensor)
                for s in value.local_shards()]
    return [] if value.is_meta else [((0, 0), value.data)]


def held_bytes(collection: nn.Module, tables: int) -> int:
    """Bytes of the rows of the ``tables`` tables of ``collection`` held here (its shards)."""
    return sum(t.numel() * t.element_size() for i in range(tables) for _, t in local_parts(collection, i))
