"""Exact ROC AUC on the device, ties collapsed like the reference's ``roc_auc_score`` (facts 2.4)."""

from __future__ import annotations

import math

import torch


class NonFiniteScores(ValueError):
    """Some scores are NaN or infinite: no AUC (or log loss) can be computed from them."""

    def __init__(self, count: int, total: int, first: int) -> None:
        super().__init__(
            f"{count} of {total} scores are not finite (NaN or infinity; the first at sample {first}): no AUC "
            "can be computed. Usual causes: NaN/inf numerical values in the test data (dlrmbench dataset inspect "
            "finds them), or weights that diverged in training"
        )
        self.count, self.total, self.first = count, total, first


def roc_auc(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """Area under the ROC curve of ``scores`` (higher = more positive) against 0/1 ``labels``.

    Sort descending, cut at every change of score (equal scores form one threshold), accumulate
    true and false positives, and integrate TPR over FPR with the trapezoidal rule. Computed in
    float64 so that millions of samples keep 1e-6 agreement with scikit-learn. Returns NaN when
    only one class is present. Raises ValueError for a NaN or infinite score (they have no rank:
    sorting them would give a meaningless area, not an error) and for labels other than 0 and 1.
    """
    scores = scores.detach().reshape(-1).to(torch.float64)
    labels = labels.detach().reshape(-1).to(torch.float64)
    if scores.numel() != labels.numel():
        raise ValueError(f"{scores.numel()} scores but {labels.numel()} labels")
    bad = ~torch.isfinite(scores)
    if bool(bad.any()):
        raise NonFiniteScores(int(bad.sum()), scores.numel(), int(bad.nonzero()[0]))
    if bool(((labels != 0) & (labels != 1)).any()):
        raise ValueError("labels must be 0 or 1")
    if scores.numel() == 0:
        return math.nan
    order = torch.argsort(scores, descending=True, stable=True)
    sorted_scores, sorted_labels = scores[order], labels[order]
    last_of_run = torch.nonzero(sorted_scores[1:] != sorted_scores[:-1]).reshape(-1)
    cut = torch.cat([last_of_run, last_of_run.new_tensor([scores.numel() - 1])])
    true_pos = torch.cumsum(sorted_labels, 0)[cut]
    false_pos = (cut + 1).to(torch.float64) - true_pos
    if true_pos[-1] == 0 or false_pos[-1] == 0:
        return math.nan
    zero = true_pos.new_zeros(1)
    tpr = torch.cat([zero, true_pos / true_pos[-1]])
    fpr = torch.cat([zero, false_pos / false_pos[-1]])
    return float(torch.trapezoid(tpr, fpr))


def log_loss(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean binary cross-entropy of ``logits`` against 0/1 ``labels`` (float64)."""
    return float(
        torch.nn.functional.binary_cross_entropy_with_logits(
            logits.detach().reshape(-1).double(), labels.detach().reshape(-1).double()
        )
    )
