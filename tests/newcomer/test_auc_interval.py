"""Every AUC in the run summary comes with the samples it rests on and its 95% confidence interval; the
interval's width agrees with a bootstrap of an independent AUC implementation (scikit-learn)."""

from __future__ import annotations

import numpy as np

from dlrmbench.results.auc_interval import auc_interval, auc_standard_error, auc_text


def test_the_standard_error_matches_a_bootstrap_of_sklearns_auc():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    for positives, negatives, shift in ((200, 300, 1.0), (300, 700, 0.6)):
        labels = np.r_[np.ones(positives), np.zeros(negatives)]
        scores = np.r_[rng.normal(shift, 1, positives), rng.normal(0, 1, negatives)]
        auc = roc_auc_score(labels, scores)
        boot = []
        for _ in range(300):  # resample within each class, as the formula assumes fixed class sizes
            pos = rng.choice(positives, positives)
            neg = positives + rng.choice(negatives, negatives)
            idx = np.r_[pos, neg]
            boot.append(roc_auc_score(labels[idx], scores[idx]))
        se = auc_standard_error(auc, positives, negatives)
        # Hanley-McNeil is a little conservative for binormal scores (ratios 1.01-1.15 over seeds 0-3)
        assert se is not None and 0.9 < se / np.std(boot) < 1.25, (se, np.std(boot))


def test_the_run_summary_text_gives_the_interval_and_the_samples():
    low, high = auc_interval(0.6876, 24, 50)
    assert 0.5 < low < 0.6876 < high < 0.9  # 50 rows: an interval about +-0.15 wide
    assert auc_text(0.6876, {"samples": 50, "positives": 24}) == f"0.6876 ±{(high - low) / 2:.4f} (n=50)"
    assert auc_text(0.7503, {"samples": 65536, "positives": 16384}).endswith("(n=65,536)")
    assert auc_text(0.7503, {"samples": 65536}) == "0.7503 (n=65,536)"  # results written before positives
    assert auc_text(0.7503, None) == "0.7503"
    assert auc_interval(0.8, 0, 10) is None  # one class only: no AUC interval
