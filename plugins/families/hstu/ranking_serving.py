"""The DLRMv3 ranking HSTU (``task: ranking``) as served: every candidate's task probabilities (imports torch).

What ``RankingFamily.serving`` returns (a :class:`dlrmbench.plugin_api.ServedModel`):

- inputs: the request's user, its history (UIH: ids, categories, action bits, timestamps, offsets) and its
  candidates (ids, categories, timestamps = the query time, offsets), all jagged; the candidates' action bits are
  what is being predicted, so the served module never sees them (zeros, as the reference's inference passes);
- output: ``probabilities`` (K, T), the sigmoid of every candidate's task logits;
- a LoadGen sample is one request of the test split; its data rows are its candidates (one output row and one
  label row each: the tasks' labels from the action bits), packed by the core's ``JaggedLibrary``;
- accuracy: NE and AUC of each task over the candidates (the family's ``ne_<task>`` and ``auc_<task>``); the gates
  apply to ``auc_<first task>``, the family's target metric;
- export: none (the model's sequence length is the batch's longest request, read from the data: a traced or
  exported graph would fix it), so the ``pytorch`` and ``pytorch_compiled`` targets serve it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from dlrmbench.errors import UserError

INPUTS = ("user_ids", "uih_ids", "uih_categories", "uih_actions", "uih_timestamps", "uih_offsets", "cand_ids",
          "cand_categories", "cand_timestamps", "cand_offsets")
#: |served - eager| probability (fp32, the same module in eager PyTorch: only a compiled graph may differ).
TOLERANCE = 1e-5


class ServedRanking(nn.Module):
    """``(the INPUTS) -> probabilities (K, T)``: the ranking model without the candidates' labels."""

    def __init__(self, ranking: nn.Module) -> None:
        super().__init__()
        self.ranking = ranking.eval()

    def forward(self, user_ids: torch.Tensor, uih_ids: torch.Tensor, uih_categories: torch.Tensor,
                uih_actions: torch.Tensor, uih_timestamps: torch.Tensor, uih_offsets: torch.Tensor,
                cand_ids: torch.Tensor, cand_categories: torch.Tensor, cand_timestamps: torch.Tensor,
                cand_offsets: torch.Tensor) -> torch.Tensor:
        unknown = torch.zeros_like(cand_ids)  # the labels are not an input of serving
        logits = self.ranking(user_ids, uih_ids, uih_categories, uih_actions, uih_timestamps, uih_offsets, cand_ids,
                              cand_categories, unknown, cand_timestamps, cand_offsets, torch.zeros_like(user_ids))
        return torch.sigmoid(logits.float())


class RankingServed:
    """The served ranking model over a dataset's test requests."""

    input_names = INPUTS
    output_names = ("probabilities",)
    formats: tuple[str, ...] = ()

    def __init__(self, model: nn.Module, dataset: Any, tasks: list[str]) -> None:
        self.workload = model.float().cpu().eval()
        self.ranking = getattr(model, "hstu", model)
        self.dataset, self.tasks = dataset, list(tasks)
        self.accuracy_metric = f"auc_{self.tasks[0]}"

    def module(self) -> nn.Module:
        return ServedRanking(self.ranking)

    def onnx_dynamic_shapes(self) -> dict[str, Any]:
        raise UserError("the ranking model's sequence length is read from the data: it has no exported graph; "
                        "serve it on the pytorch or pytorch_compiled target")

    def _requests(self, count: int) -> Any:
        """The first ``count`` requests of the test split, as one batch."""
        stream = self.dataset.batches("test", count, torch.device("cpu"))
        batch = next(iter(stream), None)
        if batch is None or batch.batch_size < count:
            have = 0 if batch is None else batch.batch_size
            raise UserError(f"serve.samples {count:,}: the test split has {have:,} requests (one sample each); "
                            "lower serve.samples")
        return batch

    @staticmethod
    def _arrays(batch: Any) -> tuple[np.ndarray, ...]:
        return tuple(getattr(batch, name).numpy() for name in INPUTS)

    def example(self, batch_size: int, seed: int) -> tuple[np.ndarray, ...]:
        return self._arrays(self._requests(batch_size))

    def reference(self, inputs: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
        """The training model's eval forward (probabilities, labels, request: the first T columns)."""
        t = {name: torch.from_numpy(np.asarray(a)) for name, a in zip(INPUTS, inputs)}
        with torch.no_grad():
            out = self.workload(t["user_ids"], t["uih_ids"], t["uih_categories"], t["uih_actions"],
                                t["uih_timestamps"], t["uih_offsets"], t["cand_ids"], t["cand_categories"],
                                torch.zeros_like(t["cand_ids"]), t["cand_timestamps"], t["cand_offsets"],
                                torch.zeros_like(t["user_ids"]))
        return (out[:, :len(self.tasks)].float().numpy(),)

    def compare(self, served: tuple[np.ndarray, ...], reference: tuple[np.ndarray, ...]) -> dict[str, Any]:
        got, ref = np.asarray(served[0]), np.asarray(reference[0])
        if got.shape != ref.shape:
            return {"max_abs_diff": float("inf"), "tolerance": TOLERANCE, "passed": False}
        diff = float(np.max(np.abs(got.astype(np.float64) - ref), initial=0.0))
        return {"max_abs_diff": diff, "tolerance": TOLERANCE, "passed": diff <= TOLERANCE}

    def library(self, samples: int, seed: int) -> Any:
        """The first ``samples`` test requests; each request's candidates are its data rows."""
        from dlrmbench.loadgen.qsl import JaggedLibrary

        batch = self._requests(samples)
        a = dict(zip(INPUTS, self._arrays(batch)))
        labels = self.ranking.labels(batch.cand_actions).float().numpy()  # (K, T)
        return JaggedLibrary(
            {"uih_offsets": (a["uih_offsets"], {k: a[k] for k in ("uih_ids", "uih_categories", "uih_actions",
                                                                   "uih_timestamps")}),
             "cand_offsets": (a["cand_offsets"], {k: a[k] for k in ("cand_ids", "cand_categories",
                                                                     "cand_timestamps")})},
            {"user_ids": a["user_ids"]}, labels, INPUTS, rows="cand_offsets")

    def accuracy(self, outputs: np.ndarray, labels: np.ndarray) -> dict[str, float]:
        """NE and AUC of every task over the candidates."""
        from dlrmbench_plugins.families.hstu.metrics import normalized_entropy, per_task_auc

        p = torch.from_numpy(np.asarray(outputs, dtype=np.float64).reshape(-1, len(self.tasks)))
        y = torch.from_numpy(np.asarray(labels, dtype=np.float64).reshape(-1, len(self.tasks)))
        auc = per_task_auc(p, y, self.tasks)
        out: dict[str, float] = {}
        for i, task in enumerate(self.tasks):
            out[f"ne_{task}"] = normalized_entropy(p[:, i], y[:, i])
            out[f"auc_{task}"] = auc[f"auc/{task}"]
        return out


def build_ranking_served(model: nn.Module, dataset: Any, tasks: list[str]) -> RankingServed:
    return RankingServed(model, dataset, tasks)
