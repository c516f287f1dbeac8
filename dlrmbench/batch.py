"""The batch every reader yields and every embedding strategy reads: the lowest data type of the core.

One-hot data (one id per feature, today's Criteo) travels as a dense ``(B, F)`` int64 tensor: that is
the fast path and the special case. Several ids per feature travel as :class:`SparseFeatures`, the
layout TorchRec's ``KeyedJaggedTensor`` users know: ``values`` grouped feature by feature (all of
feature 0's ids for samples 0..B-1, then feature 1's, ...), with either ``lengths`` (ids per
(feature, sample), jagged) or a fixed ``hotness`` per feature (every sample has ``hotness[f]`` ids
of feature f: MLPerf DLRMv2's multi-hot, no lengths to read). Embedding strategies pool the ids of
one (feature, sample) by sum.

This module does not import torch at import time (only tensors' own methods are used, and torch
inside functions), so the light contract module can name these types.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Union

if TYPE_CHECKING:
    import torch


@dataclass
class SparseFeatures:
    """Ids of ``num_features`` features for ``batch_size`` samples, grouped by feature (KJT layout).

    Attributes:
        values: ``(N,)`` int64 ids, feature-major.
        batch_size: B.
        num_features: F.
        hotness: ids per sample of each feature (fixed-hotness fast path), or None when jagged.
        lengths: ``(F * B,)`` int64 ids per (feature, sample) when jagged, else None.
    """

    values: "torch.Tensor"
    batch_size: int
    num_features: int
    hotness: tuple[int, ...] | None = None
    lengths: "torch.Tensor | None" = None

    def __post_init__(self) -> None:
        if (self.hotness is None) == (self.lengths is None):
            raise ValueError("SparseFeatures needs exactly one of hotness (fixed ids per feature) or lengths (jagged)")
        if self.hotness is not None:
            if len(self.hotness) != self.num_features:
                raise ValueError(f"hotness has {len(self.hotness)} entries for {self.num_features} features")
            expected = self.batch_size * sum(self.hotness)
            if self.values.numel() != expected:
                raise ValueError(f"fixed hotness {list(self.hotness)} x batch {self.batch_size} needs {expected} ids, "
                                 f"got {self.values.numel()}")
        elif self.lengths is not None:
            if self.lengths.numel() != self.batch_size * self.num_features:
                raise ValueError(f"lengths must have batch_size x num_features = "
                                 f"{self.batch_size * self.num_features} entries, got {self.lengths.numel()}")
            if self.lengths.device.type == "cpu":  # on an accelerator this would wait for the device
                total = int(self.lengths.sum())
                if total != self.values.numel():
                    raise ValueError(f"lengths add up to {total} ids, values holds {self.values.numel()}")

    # --- construction -------------------------------------------------------------------------

    @classmethod
    def from_dense(cls, categorical: "torch.Tensor") -> "SparseFeatures":
        """One-hot ``(B, F)`` ids as sparse features of hotness 1."""
        batch, features = categorical.shape
        return cls(categorical.t().reshape(-1), batch, features, hotness=(1,) * features)

    @classmethod
    def from_fixed(cls, per_feature: "list[torch.Tensor]") -> "SparseFeatures":
        """From one ``(B, h_f)`` id tensor per feature (fixed hotness)."""
        import torch

        batch = int(per_feature[0].shape[0])
        return cls(torch.cat([t.reshape(-1) for t in per_feature]), batch, len(per_feature),
                   hotness=tuple(int(t.shape[1]) for t in per_feature))

    # --- shape ----------------------------------------------------------------------------------

    @property
    def is_one_hot(self) -> bool:
        return self.hotness is not None and all(h == 1 for h in self.hotness)

    def bag_lengths(self) -> "torch.Tensor":
        """``(F * B,)`` ids per (feature, sample), feature-major."""
        if self.lengths is not None:
            return self.lengths
        import torch

        per_feature = torch.tensor(self.hotness, dtype=torch.int64, device=self.values.device)
        return per_feature.repeat_interleave(self.batch_size)

    def bag_offsets(self) -> "torch.Tensor":
        """``(F * B + 1,)`` start of each (feature, sample) bag in ``values``, then N."""
        import torch

        lengths = self.bag_lengths()
        return torch.cat([lengths.new_zeros(1), torch.cumsum(lengths, 0)])

    def feature_starts(self) -> list[int]:
        """Start of each feature's ids in ``values`` (F + 1 entries; reads lengths to the host when jagged)."""
        if self.hotness is not None:
            counts = [h * self.batch_size for h in self.hotness]
        else:
            assert self.lengths is not None
            counts = self.lengths.view(self.num_features, self.batch_size).sum(1).tolist()
        starts = [0]
        for count in counts:
            starts.append(starts[-1] + int(count))
        return starts

    def feature_of_values(self) -> "torch.Tensor":
        """``(N,)`` the feature index of every id (for per-feature offsets, checks and hashing)."""
        import torch

        counts = torch.tensor([b - a for a, b in zip(self.feature_starts()[:-1], self.feature_starts()[1:])],
                              dtype=torch.int64, device=self.values.device)
        return torch.arange(self.num_features, device=self.values.device).repeat_interleave(counts)

    def feature(self, f: int) -> tuple["torch.Tensor", "torch.Tensor | None"]:
        """Feature ``f`` as ``nn.functional.embedding_bag`` input: ``(ids (B, h), None)`` for a fixed
        hotness, else ``(ids (n,), offsets (B,))``."""
        starts = self.feature_starts()
        ids = self.values[starts[f]:starts[f + 1]]
        if self.hotness is not None:
            return ids.view(self.batch_size, self.hotness[f]), None
        assert self.lengths is not None
        import torch

        lengths = self.lengths[f * self.batch_size:(f + 1) * self.batch_size]
        return ids, torch.cumsum(lengths, 0) - lengths

    def select(self, features: list[int]) -> "SparseFeatures":
        """Only ``features`` (in that order): what one rank of a hybrid-parallel run looks up."""
        import torch

        starts = self.feature_starts()
        values = torch.cat([self.values[starts[f]:starts[f + 1]] for f in features]) if features else self.values[:0]
        if self.hotness is not None:
            return SparseFeatures(values, self.batch_size, len(features), hotness=tuple(self.hotness[f] for f in features))
        assert self.lengths is not None
        b = self.batch_size
        lengths = torch.cat([self.lengths[f * b:(f + 1) * b] for f in features]) if features else self.lengths[:0]
        return SparseFeatures(values, b, len(features), lengths=lengths)

    def samples(self, start: int, stop: int) -> "SparseFeatures":
        """Samples ``[start, stop)`` of every feature (a rank's slice of the global batch), same layout."""
        import torch

        starts = self.feature_starts()
        rows = stop - start
        if self.hotness is not None:
            parts = [self.values[starts[f]:starts[f + 1]].view(self.batch_size, h)[start:stop].reshape(-1)
                     for f, h in enumerate(self.hotness)]
            return SparseFeatures(torch.cat(parts), rows, self.num_features, hotness=self.hotness)
        assert self.lengths is not None
        lengths = self.lengths.view(self.num_features, self.batch_size)
        before = lengths[:, :start].sum(1).tolist()
        inside = lengths[:, start:stop].sum(1).tolist()
        parts = [self.values[starts[f] + int(before[f]):starts[f] + int(before[f]) + int(inside[f])]
                 for f in range(self.num_features)]
        return SparseFeatures(torch.cat(parts), rows, self.num_features, lengths=lengths[:, start:stop].reshape(-1))

    def with_values(self, values: "torch.Tensor") -> "SparseFeatures":
        """The same layout with other ids (after hashing into range)."""
        return SparseFeatures(values, self.batch_size, self.num_features, self.hotness, self.lengths)

    def to(self, device: "torch.device | str", non_blocking: bool = False) -> "SparseFeatures":
        lengths = None if self.lengths is None else self.lengths.to(device, non_blocking=non_blocking)
        return SparseFeatures(self.values.to(device, non_blocking=non_blocking), self.batch_size, self.num_features,
                              self.hotness, lengths)

    @property
    def device(self) -> "torch.device":
        return self.values.device


Ids = Union["torch.Tensor", SparseFeatures]
"""What an embedding strategy receives: ``(B, F)`` one-hot ids, or :class:`SparseFeatures`."""


def ids_batch_size(ids: Ids) -> int:
    """B of either form of ids."""
    return ids.batch_size if isinstance(ids, SparseFeatures) else int(ids.shape[0])


def ids_samples(ids: Ids, start: int, stop: int) -> Ids:
    """Samples ``[start, stop)`` of either form of ids (a rank's slice of the global batch)."""
    return ids.samples(start, stop) if isinstance(ids, SparseFeatures) else ids[start:stop]


def ids_num_features(ids: Ids) -> int:
    """F of either form of ids (a dense tensor that is not 2-D gives -1: a shape error to report)."""
    if isinstance(ids, SparseFeatures):
        return ids.num_features
    return int(ids.shape[1]) if ids.dim() == 2 else -1


def global_rows(batch: object) -> int:
    """Rows of the global batch ``batch`` is (a rank's share carries them; any other batch is global)."""
    rows = getattr(batch, "global_rows", None)
    return int(rows) if rows is not None else int(getattr(batch, "size"))


def ids_features(ids: Ids, features: "tuple[int, ...] | list[int]") -> Ids:
    """Only ``features`` (in that order) of either form of ids."""
    if isinstance(ids, SparseFeatures):
        return ids.select(list(features))
    import torch

    return ids.index_select(1, torch.tensor(list(features), dtype=torch.int64, device=ids.device))


@dataclass
class Batch:
    """One batch: ``numerical (B, 13)`` float, ``categorical`` ids, ``label (B,)`` float32.

    ``categorical`` is a ``(B, F)`` int64 tensor (one id per feature) or :class:`SparseFeatures`
    (several ids per feature). ``global_rows``: set on a rank's share of a global batch
    (:class:`~dlrmbench.data.share.BatchShare`): the global batch's rows; ``label`` then holds this
    rank's rows, and ``numerical`` / ``categorical`` what the share says (its rows, or every row).
    """

    numerical: "torch.Tensor"
    categorical: Ids
    label: "torch.Tensor"
    global_rows: int | None = None

    @property
    def size(self) -> int:
        return int(self.label.shape[0])

    def share(self, share: Any) -> "Batch":
        """This global batch's ``share`` (a :class:`dlrmbench.data.share.BatchShare`: its ``bounds(rows)``,
        ``ids``, ``dense`` and ``features``), cut in memory (for readers that cannot read a part)."""
        rows = self.size
        start, stop = share.bounds(rows)
        ids = self.categorical if share.ids == "batch" else ids_samples(self.categorical, start, stop)
        if share.features is not None:
            ids = ids_features(ids, share.features)
        if share.dense == "rows":
            numerical = self.numerical[start:stop]
        elif share.dense == "batch":
            numerical = self.numerical
        else:
            numerical = self.numerical[:ids_batch_size(ids), :0]
        return Batch(numerical, ids, self.label[start:stop], global_rows=rows)

    @property
    def multi_hot(self) -> bool:
        return isinstance(self.categorical, SparseFeatures)

    def to(self, device: "torch.device | str", non_blocking: bool = False) -> "Batch":
        return Batch(
            self.numerical.to(device, non_blocking=non_blocking),
            self.categorical.to(device, non_blocking=non_blocking),
            self.label.to(device, non_blocking=non_blocking),
            self.global_rows,
        )

    def samples(self, start: int, stop: int) -> "Batch":
        """Samples ``[start, stop)``: a data-parallel rank's slice of the global batch."""
        if self.global_rows is not None:
            raise ValueError("samples() of a rank's share: slice the global batch (Batch.share) instead")
        return Batch(self.numerical[start:stop], ids_samples(self.categorical, start, stop), self.label[start:stop])

    def pin_memory(self) -> "Batch":
        """The batch in page-locked host memory (a faster, asynchronous copy to a GPU)."""
        categorical = self.categorical if isinstance(self.categorical, SparseFeatures) else self.categorical.pin_memory()
        return Batch(self.numerical.pin_memory(), categorical, self.label, self.global_rows)
