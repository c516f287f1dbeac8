"""A rank's view of the case's dataset: every stream yields this rank's share of each global batch.

A dataset plugin that can read a share (optional method ``rank_batches(split, batch_size, device, share)``:
the file readers, ``mlperf_npy``, ``synthetic``) reads only it (``distributed.read: share``, the default).
Any other dataset, and ``distributed.read: global`` (every rank reads the whole global batch, as dlrmbench
did before), is read whole and cut in memory (:meth:`dlrmbench.batch.Batch.share`), so the model sees the
same batches either way. Batches of another type than the core's ``Batch`` (another family's) pass whole;
the data-parallel layout slices them itself.
"""

from __future__ import annotations

from typing import Any, Iterator, Literal

from dlrmbench.data.share import BatchShare

ReadMode = Literal["share", "global"]
PipelineMode = Literal["sparse_dist", "thread", "off"]
READS_AHEAD = ("thread", "sparse_dist")  # the modes that read the next training batches on a background thread


def pipeline_mode(setting: str, auto: PipelineMode = "thread") -> PipelineMode:
    """The case's ``distributed.pipeline`` on a topology whose own choice for ``auto`` is ``auto``."""
    return auto if setting == "auto" else setting  # type: ignore[return-value]


class SharedStream:
    """The batches of ``stream`` cut to ``share`` in memory (re-iterable, same length)."""

    def __init__(self, stream: Any, share: BatchShare) -> None:
        self.stream, self.share = stream, share

    def __len__(self) -> int:
        return len(self.stream)

    def __iter__(self) -> Iterator[Any]:
        for batch in self.stream:
            yield batch.share(self.share) if hasattr(batch, "share") else batch


class Pipelined:
    """``stream`` with its iteration (the next batches' read, conversion and share cut) run ``depth`` batches
    ahead on a background thread (:func:`dlrmbench.data.prefetch.ahead`); re-iterable, same length."""

    def __init__(self, stream: Any, depth: int = 2) -> None:
        self.stream, self.depth = stream, depth

    def __len__(self) -> int:
        return len(self.stream)

    def __iter__(self) -> Iterator[Any]:
        from dlrmbench.data.prefetch import ahead

        return ahead(self.stream, self.depth)


class RankData:
    """``dataset`` as rank ``share.rank`` reads it (see the module docstring); other attributes pass through.

    ``pipeline`` (``distributed.pipeline``, resolved by the topology): with ``thread`` and ``sparse_dist`` the training
    split's next batches are read (and cut) on a background thread while the current step computes; ``sparse_dist``
    also says the steps run through TorchRec's train pipeline (recorded here, run by the topology)."""

    def __init__(self, dataset: Any, share: BatchShare, read: ReadMode = "share", pipeline: PipelineMode = "off") -> None:
        self.dataset, self.share, self.read, self.pipeline = dataset, share, read, pipeline

    @property
    def reads_share(self) -> bool:
        """True when this rank reads only its share from the dataset (not the global batch, cut after)."""
        return self.read == "share" and hasattr(self.dataset, "rank_batches")

    def batches(self, split: str, batch_size: int, device: Any) -> Any:
        if self.reads_share:
            stream = self.dataset.rank_batches(split, batch_size, device, self.share)
        else:
            stream = SharedStream(self.dataset.batches(split, batch_size, device), self.share)
        # a stream that prefetches itself (the file readers' ``prefetch``) already reads ahead on its threads
        ahead = self.pipeline in READS_AHEAD and split == "train" and not getattr(stream, "prefetch_depth", 0)
        return Pipelined(stream) if ahead else stream

    def record(self) -> dict[str, Any]:
        """How this rank reads its input, for the result: the read mode, whether the dataset reads the share
        itself, the pipeline, and the share."""
        share = self.share
        return {"read": self.read, "reads_share": self.reads_share, "pipeline": self.pipeline,
                "share": {"dense": share.dense, "ids": share.ids,
                          "features": list(share.features) if share.features is not None else None}}

    def table_sizes(self) -> Any:
        return self.dataset.table_sizes()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.dataset, name)

