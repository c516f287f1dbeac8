"""TorchRec's ``TrainPipelineSparseDist`` on the ``torchrec_dmp`` topology (``distributed.pipeline: sparse_dist``).

The MLPerf DLRMv2 reference trains with it: while step i computes, batch i+1's input all-to-all (DMP sends each
table's ids to the ranks holding its shards) is in flight and batch i+2 is copied to the device (CUDA streams;
on the CPU the same order on one stream). Its ``progress(iterator)`` runs a whole step: zero_grad, forward,
``sum(loss).backward()``, ``optimizer.step()``. It needs:

* a batch it can move and keep alive across streams (:class:`PipelineBatch`, TorchRec's ``Pipelineable``)
  whose sparse part is the ``KeyedJaggedTensor`` the sharded collection takes;
* a model whose forward takes that batch, hands ``batch.sparse`` to the sharded collection unchanged (TorchRec
  finds the collection's input by fx-tracing the forward, and from then on runs its input distribution itself)
  and returns ``(loss, output)`` as the reference's ``DLRMTrain`` does (:class:`DmpTrainModel`; the rest of
  the model sits in a leaf module the tracer does not enter, :class:`TrainHead`).

The loss it backpropagates is this rank's mean weighted ``b_r * W / B`` (the weight the one training loop gives
it; :mod:`dlrmbench.distributed.torchrec_dmp`), so the gradients are those of the unpipelined loop. Evaluation
runs the model's own forward with the pipeline detached, as the reference detaches around evaluation; in-flight
batches stay and training resumes where it was. Imports torch and torchrec.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

import torch
from torch import nn
from torchrec.streamable import Pipelineable

from dlrmbench.batch import Ids, SparseFeatures, ids_batch_size


def ids_placeholder(ids: Ids) -> Ids:
    """One row of id 0 in the layout of ``ids`` (an empty share's stand-in: its outputs are dropped)."""
    if isinstance(ids, SparseFeatures):
        hotness = ids.hotness if ids.hotness is not None else (1,) * ids.num_features
        return SparseFeatures(ids.values.new_zeros(sum(hotness)), 1, ids.num_features, hotness=tuple(hotness))
    return ids.new_zeros(1, ids.shape[1])


@dataclass
class PipelineBatch(Pipelineable):
    """One rank's batch as TorchRec's train pipeline moves it: ``dense (b, 13)``, ``sparse`` (a
    ``KeyedJaggedTensor`` of b samples), ``labels (b,)``, and ``weight``, the factor on this rank's mean loss
    (``b_r * W / B``; 0 for a placeholder row standing in for an empty share)."""

    dense: torch.Tensor
    sparse: Any
    labels: torch.Tensor
    weight: float

    def to(self, device: torch.device, non_blocking: bool = False) -> "PipelineBatch":
        return PipelineBatch(self.dense.to(device=device, non_blocking=non_blocking),
                             self.sparse.to(device=device, non_blocking=non_blocking),
                             self.labels.to(device=device, non_blocking=non_blocking), self.weight)

    def record_stream(self, stream: Any) -> None:
        self.dense.record_stream(stream)
        self.sparse.record_stream(stream)
        self.labels.record_stream(stream)

    def pin_memory(self) -> "PipelineBatch":
        return PipelineBatch(self.dense.pin_memory(), self.sparse.pin_memory(), self.labels.pin_memory(),
                             self.weight)


class TrainHead(nn.Module):
    """Everything after the table lookup: the bottom MLP, the interaction and top MLP (``Dlrm.top``), the
    family's loss. Holds the model without registering it, so it has no children and TorchRec's tracer keeps it
    a leaf (its Python is never traced)."""

    def __init__(self, model: nn.Module, family: Any) -> None:
        super().__init__()
        self._parts = (model, family)  # a tuple: not a submodule

    def forward(self, dense: torch.Tensor, pooled: Any, labels: torch.Tensor,
                weight: float) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        model, family = self._parts
        bottom = model.bottom_mlp(dense)
        logits = model.top(bottom, model.embeddings.embedded(pooled, int(labels.shape[0])))
        loss = family.loss(logits, labels)
        return loss * weight, (loss.detach(), logits.detach(), labels)


class DmpTrainModel(nn.Module):
    """What DMP wraps under ``pipeline: sparse_dist``: ``model`` (the DLRM whose ``embeddings.ebc`` DMP shards) and
    its training forward over a :class:`PipelineBatch`, returning ``(weighted loss, (loss, logits, labels))``."""

    def __init__(self, model: nn.Module, family: Any) -> None:
        super().__init__()
        self.model = model
        self.head = TrainHead(model, family)

    def forward(self, batch: PipelineBatch) -> Any:
        pooled = self.model.embeddings.ebc(batch.sparse)  # the sharded collection, its input straight from the batch
        return self.head(batch.dense, pooled, batch.labels, batch.weight)


def pipeline_batch(batch: Any, embeddings: Any, weight: float) -> PipelineBatch:
    """A rank's share of a global batch (a core ``Batch``) as a :class:`PipelineBatch`: ids checked (or folded)
    by ``embeddings`` as its forward would. An empty share runs one placeholder row of weight 0 (TorchRec's
    jagged tensors need a row; its collectives must run), as the unpipelined loop does."""
    dense, ids, labels = batch.numerical, batch.categorical, batch.label
    if ids_batch_size(ids) == 0:
        dense, ids, labels, weight = dense.new_zeros(1, dense.shape[1]), ids_placeholder(ids), labels.new_zeros(1), 0.0
    return PipelineBatch(dense, embeddings.sparse_input(ids), labels, weight)


class TorchRecSteps:
    """The training loop's steps through TorchRec's ``TrainPipelineSparseDist`` (see the module docstring).

    :meth:`feed` gives the loop an epoch's batches and the pipeline the same batches (it reads two ahead of the
    loop); each :meth:`step` is one ``progress``: the step of the batch the loop holds, returning its unweighted
    loss. :meth:`detached` is for evaluation."""

    def __init__(self, dmp: nn.Module, optimizer: torch.optim.Optimizer, device: torch.device,
                 embeddings: Any, weight: Any) -> None:
        from torchrec.distributed.train_pipeline import TrainPipelineSparseDist

        self.pipeline = TrainPipelineSparseDist(dmp, optimizer, device, execute_all_batches=True)
        self.embeddings, self.weight = embeddings, weight  # weight(batch): the factor on a batch's mean loss
        self._feed: Iterator[PipelineBatch] = iter(())

    def feed(self, batches: Iterable[Any], steps: int) -> Iterator[Any]:
        """The first ``steps`` batches of ``batches`` for the loop; the pipeline reads the same ones."""
        loop, ahead = itertools.tee(itertools.islice(iter(batches), steps))
        self._feed = (pipeline_batch(b, self.embeddings, self.weight(b)) for b in ahead)
        return loop

    def step(self) -> torch.Tensor:
        """One training step of the pipeline's current batch (the one the loop holds); its mean loss."""
        loss, _logits, _labels = self.pipeline.progress(self._feed)
        if not self.pipelined_modules():  # TorchRec only warns when its trace finds no collection to pipeline
            raise RuntimeError("TorchRec's train pipeline found no sharded collection whose input it can distribute "
                               "ahead (its fx trace of the training forward); run with distributed.pipeline: thread")
        return loss

    def pipelined_modules(self) -> list[str]:
        """The sharded modules whose input distribution the pipeline runs ahead (TorchRec keeps them private)."""
        return [module.forward.name for module in self.pipeline._pipelined_modules]  # noqa: SLF001

    def detach(self) -> None:
        """The model's own forward back (for evaluation); in-flight batches stay."""
        self.pipeline.detach()

    def attach(self) -> None:
        """Training resumes through the pipeline. The next batch's input distribution already ran, so it is not
        started again (``sparse_dist=False``)."""
        self.pipeline.attach(sparse_dist=False)
