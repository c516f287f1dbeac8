"""The ``hstu`` family as served: retrieval of the top K items for a user's jagged history (imports torch).

What :meth:`HSTUFamily.serving` returns, the :class:`dlrmbench.plugin_api.ServedModel` the core's export, ``mode:
serve`` and LoadGen drive:

- the served module is :class:`~dlrmbench_plugins.families.hstu.export.ServedRetrieval`: inputs ``ids``,
  ``timestamps`` (the histories' values), ``offsets`` (B + 1) and ``query_timestamps`` (B: the request's time,
  which the time bias reads for the last history item); outputs ``items`` (B, K) int64, the K best items outside
  the history, and their ``scores``;
- the reference is the training model's own jagged encoder (``user_vectors``) scored against every item in plain
  PyTorch, so ``--check`` tests the padding, the dense attention and the in-graph mask of the served graph;
- a LoadGen sample is one user of the test split (the reference's evaluation: the history before the user's last
  item, and that item as the label); the response is the K item ids;
- accuracy: HR@K, NDCG@K (K of the family's 10, 50, 200 within the served K) and MRR over the served top K, from
  the rank of the label in each response (1 + its position; K + 1 when absent), as the family's evaluation does.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from dlrmbench.errors import UserError
from dlrmbench_plugins.families.hstu.export import ServedRetrieval
from dlrmbench_plugins.families.hstu.jagged import SequenceBatch
from dlrmbench_plugins.families.hstu.model import HSTURetrieval

INPUTS = ("ids", "timestamps", "offsets", "query_timestamps")
OUTPUTS = ("items", "scores")
#: ``--check``: |served score - eager score| <= TOLERANCE x max(1, max |eager score|) (scores are cosine-like
#: dot products of unit vectors); ids may differ only where two items' eager scores lie within it (a tie).
TOLERANCE = 1e-5


def served_k(num_items: int, ks: tuple[int, ...]) -> int:
    """Items a response ranks: the largest metric K, at most the catalogue."""
    return min(max(ks), num_items)


def ranks_from_items(items: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(N,) 1 + the position of each row's label among its K items, K + 1 when absent (ids 0 are no answer)."""
    items = np.asarray(items).reshape(items.shape[0], -1)
    labels = np.asarray(labels).reshape(-1, 1)
    hit = (items == labels) & (labels > 0)
    k = items.shape[1]
    return np.where(hit.any(1), hit.argmax(1) + 1, k + 1).astype(np.float64)


class HSTUServed:
    """The served retrieval model of a trained :class:`HSTURetrieval` over a :class:`SequenceDataset`'s users."""

    input_names = INPUTS
    output_names = OUTPUTS
    formats = ("onnx", "torchscript")

    def __init__(self, model: HSTURetrieval, data: Any, ks: tuple[int, ...], target_metric: str) -> None:
        self.model = model.float().cpu().eval()
        self.data = data  # UserSequences
        self.cfg = model.cfg
        self.k = served_k(self.cfg.num_items, ks)
        self.ks = tuple(k for k in ks if k <= self.k)
        self.accuracy_metric = target_metric

    # --- the module and its inputs ------------------------------------------------------------------------
    def module(self) -> torch.nn.Module:
        return ServedRetrieval(self.model, self.k).eval()

    def onnx_dynamic_shapes(self) -> dict[str, Any]:
        tokens = torch.export.Dim("tokens", min=2, max=1 << 30)
        batch = torch.export.Dim("batch", min=2, max=1 << 20)
        return {"ids": {0: tokens}, "timestamps": {0: tokens}, "offsets": {0: batch + 1},
                "query_timestamps": {0: batch}}

    def _batch(self, users: torch.Tensor) -> SequenceBatch:
        return self.data.batch(users, "eval", self.cfg.max_sequence_length)

    @staticmethod
    def _arrays(batch: SequenceBatch) -> tuple[np.ndarray, ...]:
        return tuple(t.numpy() for t in (batch.ids, batch.timestamps, batch.offsets, batch.target_timestamps))

    def example(self, batch_size: int, seed: int) -> tuple[np.ndarray, ...]:
        g = torch.Generator().manual_seed(seed)
        users = torch.randint(0, self.data.num_users, (batch_size,), generator=g)
        return self._arrays(self._batch(users))

    # --- the reference and the check ----------------------------------------------------------------------
    def reference(self, inputs: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
        """The training model's jagged encoder, every item scored, the history masked, the top K (plain PyTorch)."""
        ids, timestamps, offsets, query = (torch.from_numpy(np.asarray(a)) for a in inputs)
        batch = SequenceBatch(ids, timestamps, torch.zeros_like(ids), offsets, torch.zeros_like(query), query,
                              torch.zeros_like(query))
        with torch.no_grad():
            users = self.model.user_vectors(batch)
            scores = users @ self.model.item_vectors(torch.arange(self.cfg.num_items + 1)).T
            scores[:, 0] = float("-inf")
            owner = torch.repeat_interleave(torch.arange(batch.batch_size), batch.lengths)
            scores[owner, ids] = float("-inf")
            top, items = torch.topk(scores, self.k, dim=1)
            items = torch.where(torch.isinf(top), torch.zeros_like(items), items)
        return items.numpy(), top.numpy()

    def compare(self, served: tuple[np.ndarray, ...], reference: tuple[np.ndarray, ...]) -> dict[str, Any]:
        """Scores within :data:`TOLERANCE`; ids equal except where the eager scores tie within it."""
        items, scores = (np.asarray(a) for a in served[:2])
        ref_items, ref_scores = reference
        if items.shape != ref_items.shape or scores.shape != ref_scores.shape:
            return {"max_abs_diff": float("inf"), "tolerance": TOLERANCE, "passed": False,
                    "detail": f"shapes {items.shape} vs {ref_items.shape}"}
        finite = np.isfinite(ref_scores)
        if not np.array_equal(finite, np.isfinite(scores)):
            return {"max_abs_diff": float("inf"), "tolerance": TOLERANCE, "passed": False,
                    "detail": "masked (-inf) positions differ"}
        diff = float(np.max(np.abs(scores[finite].astype(np.float64) - ref_scores[finite]), initial=0.0))
        tolerance = TOLERANCE * max(1.0, float(np.max(np.abs(ref_scores[finite]), initial=0.0)))
        differ = items != ref_items
        # a swapped pair is a tie: the eager scores of both ids at those positions lie within the tolerance
        ties = bool(np.all(np.abs(scores[differ].astype(np.float64) - ref_scores[differ]) <= tolerance))
        return {"max_abs_diff": diff, "tolerance": tolerance, "passed": bool(diff <= tolerance and ties),
                "ids_equal_share": float(1.0 - differ.mean()) if differ.size else 1.0}

    # --- LoadGen -----------------------------------------------------------------------------------------
    def library(self, samples: int, seed: int) -> Any:
        """The first ``samples`` users of the test split: histories (jagged), request times, held-out items (the
        same users whatever ``seed``: the reference's evaluation covers users in order). The served module holds a
        (batch, num_items + 1) score matrix per call: the batcher's ``max_batch_size`` bounds it."""
        from dlrmbench.loadgen.qsl import JaggedLibrary

        if samples > self.data.num_users:
            raise UserError(f"serve.samples {samples:,}: the dataset has {self.data.num_users:,} users (one sample "
                            "each); lower serve.samples")
        batch = self._batch(torch.arange(samples))
        ids, timestamps, offsets, query = self._arrays(batch)
        return JaggedLibrary({"offsets": (offsets, {"ids": ids, "timestamps": timestamps})}, {"query_timestamps": query},
                             batch.target_ids.numpy().reshape(-1, 1), INPUTS)

    def accuracy(self, outputs: np.ndarray, labels: np.ndarray) -> dict[str, float]:
        from dlrmbench_plugins.families.hstu.metrics import retrieval_metrics

        ranks = ranks_from_items(outputs, labels)
        got = retrieval_metrics(torch.from_numpy(ranks), self.ks)
        return {k.replace("@", "_at_"): v for k, v in got.items()}


def build_served(model: Any, dataset: Any, ks: tuple[int, ...], target_metric: str) -> HSTUServed:
    """The served model of the family's training model (``HSTUWorkloadModel``) over its dataset's users."""
    data = getattr(dataset, "data", None)
    if data is None or not hasattr(data, "batch"):
        raise UserError(f"hstu serving reads its requests from the family's own datasets (hstu_synthetic, "
                        f"sasrec_csv); this dataset is a {type(dataset).__name__}")
    return HSTUServed(getattr(model, "hstu", model), data, ks, target_metric)
