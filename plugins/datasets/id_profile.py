"""Skewed synthetic ids: a bounded power law per table, fitted to the real Criteo frequency profile.

Why: uniform ids make almost every id of a batch distinct on a large table (a batch of 55,296 over 40M rows
touches ~55,000 rows), while real Criteo ids repeat (in 10,000 real rows a 10M-value feature shows ~5,500
distinct values). Distinct rows per batch drive the lookup, the all-to-all volume and the optimizer's row
updates, so a throughput on uniform ids is not the throughput on the data a published number was run on.

The distribution: the rank ``k`` (0 = the most frequent value) of a table of ``n`` rows is
``floor(x) - 1`` with ``x`` drawn from the density ``x^-s`` on ``[1, n + 1)``, so
``P(k) = F(k + 2) - F(k + 1)`` with ``F(x) = (x^(1-s) - 1) / ((n+1)^(1-s) - 1)`` (``ln x / ln(n+1)`` at
``s = 1``). Ranks are spread over the rows by ``row = k * SCATTER mod n`` (a bijection: SCATTER is a prime
larger than any table), as hashed Criteo ids are: hot rows are not neighbours.

The fit (``bench/criteo_id_profile.py`` reruns it and prints this table): for each of the 26 categorical
features of the first 10,000 rows of the Kaggle DAC ``train.txt`` (``../shared/data/criteo/
autoint_train_examples_head10k.txt``, see SOURCES.md there), the exponent whose expected distinct count
per batch of 128, 1,024 and 4,096 rows is closest (squared log error) to the observed mean over random
batches, with ``n`` = the feature's value count in the whole Kaggle data (:data:`KAGGLE_CARDINALITIES`).
Held out: a second real 10,000-row sample (the DeepFM file) is not used by the fit; the tests compare the
generator with it. For another model's tables each table takes the exponent of the Kaggle feature of the
nearest cardinality (log scale): the MLPerf DLRMv2 data is Criteo 1TB, whose columns are not the Kaggle
data's columns (their cardinalities differ), so no feature maps to one by position. What the sample cannot
tell is in docs/dlrmv2.md ("Skewed synthetic ids"). No torch here (the sampler is in ``_synthetic_impl``).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

FIT_SOURCE = ("bounded power law per table, exponents fitted to the distinct ids per batch of 128/1024/4096 rows "
              "of the first 10,000 rows of Criteo Kaggle DAC train.txt (../shared/data/criteo, SOURCES.md); "
              "tables take the exponent of the Kaggle feature of the nearest cardinality")

# value count per categorical feature in the whole Kaggle DAC train.txt: facebookresearch/dlrm
# dlrm_s_pytorch.py --arch-embedding-size for --data-set=kaggle (the same list in many DLRM ports)
KAGGLE_CARDINALITIES = [1460, 583, 10131227, 2202608, 305, 24, 12517, 633, 3, 93145, 5683, 8351593, 3194, 27,
                        14992, 5461306, 10, 5652, 2173, 4, 7046547, 18, 15, 286181, 105, 142572]

# fitted by bench/criteo_id_profile.py (grid 0.05..3.00 step 0.01) on autoint_train_examples_head10k.txt
KAGGLE_EXPONENTS = [2.0, 1.28, 1.04, 1.09, 2.6, 3.0, 0.89, 2.31, 3.0, 1.09, 0.94, 1.05, 0.93, 2.72, 1.05, 1.07,
                    2.13, 1.17, 1.59, 0.05, 1.06, 3.0, 2.59, 1.18, 2.46, 1.26]

FIT_BATCHES = (128, 1024, 4096)
EXPONENT_GRID = (0.05, 3.0, 0.01)  # first, last, step
SCATTER = 2_654_435_761  # a prime (Knuth's multiplicative hash): k -> k * SCATTER mod n is a bijection for n < it
MAX_ROWS = SCATTER - 1

_EXACT_RANKS = 4096   # ranks summed one by one in expected_distinct; the rest in geometric bins
_TAIL_BINS = 4096


def exponents_for(table_sizes: Sequence[int]) -> list[float]:
    """The fitted exponent of each table: that of the Kaggle feature of the nearest cardinality (log scale)."""
    logs = np.log(np.asarray(KAGGLE_CARDINALITIES, dtype=np.float64))
    out = []
    for rows in table_sizes:
        nearest = int(np.argmin(np.abs(logs - math.log(max(int(rows), 1)))))
        out.append(KAGGLE_EXPONENTS[nearest])
    return out


def power_law_cdf(x: np.ndarray, s: float, n: int) -> np.ndarray:
    """``F(x)`` of the density ``x^-s`` on ``[1, n + 1)`` (see the module docstring)."""
    x = np.asarray(x, dtype=np.float64)
    if abs(1.0 - s) < 1e-9:
        return np.log(x) / math.log(n + 1.0)
    a = 1.0 - s
    return np.expm1(a * np.log(x)) / math.expm1(a * math.log(n + 1.0))


def expected_distinct(s: float, n: int, batch: int) -> float:
    """Expected distinct ranks among ``batch`` independent draws: ``sum_k 1 - (1 - P(k))^batch`` (the first
    ranks exactly, the tail in geometric bins where ``P`` varies slowly)."""
    exact = min(n, _EXACT_RANKS)
    k = np.arange(1, exact + 1, dtype=np.float64)
    p = np.clip(power_law_cdf(k + 1, s, n) - power_law_cdf(k, s, n), 0.0, 1.0 - 1e-16)
    total = float(np.sum(-np.expm1(batch * np.log1p(-p))))
    if n > exact:
        edges = np.unique(np.rint(np.geomspace(exact + 1, n + 1, _TAIL_BINS)))
        low, high = edges[:-1], edges[1:]
        mean_p = np.clip((power_law_cdf(high, s, n) - power_law_cdf(low, s, n)) / (high - low), 0.0, 1.0 - 1e-16)
        total += float(np.sum((high - low) * -np.expm1(batch * np.log1p(-mean_p))))
    return total


def fit_exponent(observed: dict[int, float], n: int) -> float:
    """The grid exponent whose expected distinct counts are closest to ``observed`` (batch -> mean distinct),
    in squared log error."""
    first, last, step = EXPONENT_GRID
    grid = np.round(np.arange(first, last + step / 2, step), 2)
    target = np.log([observed[b] for b in sorted(observed)])
    errors = [float(np.sum((np.log([expected_distinct(float(s), n, b) for b in sorted(observed)]) - target) ** 2))
              for s in grid]
    return float(grid[int(np.argmin(errors))])


# value count per categorical feature of Criteo 1TB without a frequency threshold (cat_0..cat_25): the
# `criteo_t0_synthetic` variant of NVIDIA's TF2 DLRM generate_feature_spec.py @d53419f2 (facts sheet 4.2)
CRITEO_1TB_VALUES = [227605432, 39061, 17296, 7425, 20266, 4, 7123, 1544, 64, 130229467, 3067956, 405283, 11, 2209,
                     11939, 155, 4, 977, 15, 292775614, 40790948, 187188510, 590152, 12974, 109, 37]


def thresholded_distinct(s: float, rows: int, values: int, batch: int) -> float:
    """Expected distinct rows among ``batch`` draws from a table of ``rows`` made as NVIDIA's preprocessing makes
    one (facts sheet 8.2): the law over all ``values`` of the feature, its ``rows - 1`` most frequent values kept
    as rows 1.., every other value folded into row 0. What ``id_distribution: criteo`` approximates by the law
    over the table's own rows (:func:`expected_distinct`); docs/dlrmv2.md compares the two on NVIDIA's tables."""
    kept = max(min(rows - 1, values), 1)
    edges = np.unique(np.rint(np.geomspace(1, kept + 1, _TAIL_BINS * 4)))
    low, high = edges[:-1], edges[1:]
    mean_p = np.clip((power_law_cdf(high, s, values) - power_law_cdf(low, s, values)) / (high - low), 0.0, 1.0 - 1e-16)
    folded = float(1.0 - power_law_cdf(np.array([kept + 1.0]), s, values)[0])
    total = float(np.sum((high - low) * -np.expm1(batch * np.log1p(-mean_p))))
    return total + (-math.expm1(batch * math.log1p(-min(folded, 1.0 - 1e-16))) if folded > 0 else 0.0)
