"""How far an AUC can be trusted: its 95% confidence interval from the number of positives and negatives
scored (Hanley and McNeil, 1982), so that an AUC from 50 test rows says so next to the figure.

Light (no torch): the run summary and reports use it on result files.
"""

from __future__ import annotations

import math


def auc_standard_error(auc: float, positives: int, negatives: int) -> float | None:
    """Hanley-McNeil standard error of ``auc`` over ``positives`` and ``negatives``; None without both classes."""
    if positives < 1 or negatives < 1 or not 0.0 <= auc <= 1.0:
        return None
    q1 = auc / (2.0 - auc)
    q2 = 2.0 * auc * auc / (1.0 + auc)
    variance = (auc * (1.0 - auc) + (positives - 1) * (q1 - auc * auc)
                + (negatives - 1) * (q2 - auc * auc)) / (positives * negatives)
    return math.sqrt(max(variance, 0.0))


def auc_interval(auc: float, positives: int, samples: int) -> tuple[float, float] | None:
    """The 95% confidence interval of ``auc`` (normal approximation, clipped to [0, 1]); None when unknown."""
    se = auc_standard_error(auc, positives, samples - positives)
    if se is None:
        return None
    return max(0.0, auc - 1.96 * se), min(1.0, auc + 1.96 * se)


def auc_text(auc: float, evaluation: dict | None) -> str:
    """``0.7503 ±0.0041 (n=65,536)``: the AUC with its 95% half-width and the samples scored, as far as the
    evaluation record tells them."""
    text = f"{auc:.4f}"
    evaluation = evaluation or {}
    samples, positives = evaluation.get("samples"), evaluation.get("positives")
    if isinstance(samples, (int, float)) and isinstance(positives, (int, float)):
        interval = auc_interval(auc, int(positives), int(samples))
        if interval is not None:
            text += f" ±{(interval[1] - interval[0]) / 2:.4f}"
    if isinstance(samples, (int, float)):
        text += f" (n={int(samples):,})"
    return text
