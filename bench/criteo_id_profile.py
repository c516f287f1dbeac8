"""Fit the skewed synthetic ids (``dataset.options.id_distribution: criteo``) to real Criteo rows and print
the fit, its error on a held-out real sample, and what it predicts for the MLPerf DLRMv2 tables.

Data: ../shared/data/criteo (beside the repository; see SOURCES.md there). Fitted on the first 10,000 rows of
the Kaggle DAC train.txt (``autoint_train_examples_head10k.txt``); held out: the 10,000 DeepFM rows
(``deepfm_pytorch_optimization_test_10k_reconstructed.txt``, no row in common). Distinct values per batch are
the mean over 40 random batches drawn without replacement (seeded). The exponents printed here are
``plugins/datasets/id_profile.py``'s ``KAGGLE_EXPONENTS``.

    .venv/bin/python bench/criteo_id_profile.py    # about a minute
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from dlrmbench.config.presets import TABLE_SIZE_PRESETS
from dlrmbench_plugins.datasets.id_profile import (CRITEO_1TB_VALUES, FIT_BATCHES, KAGGLE_CARDINALITIES,
                                                  KAGGLE_EXPONENTS, expected_distinct, exponents_for, fit_exponent,
                                                  thresholded_distinct)

REPO = Path(__file__).resolve().parents[1]

DATA_DIR = REPO.parent / "shared" / "data" / "criteo"
FIT_FILE = "autoint_train_examples_head10k.txt"
HELD_OUT_FILE = "deepfm_pytorch_optimization_test_10k_reconstructed.txt"
DLRMV2_TABLES = [40000000, 39060, 17295, 7424, 20265, 3, 7122, 1543, 63, 40000000, 3067956, 405282, 10, 2209,
                 11938, 155, 4, 976, 14, 40000000, 40000000, 40000000, 590152, 12973, 108, 36]
DLRMV2_BATCH = 55296
NVIDIA_MODELS = (("criteo_fl3", 65536), ("criteo_fl15", 32768))  # large (8 GPUs, global batch), small (1 GPU)


def categorical_columns(path: Path) -> list[np.ndarray]:
    """The 26 categorical columns of a raw Criteo file (fields 14..39; empty = its own value)."""
    rows = [line.rstrip("\n").split("\t")[14:40] for line in path.open()]
    return [np.array([r[j] for r in rows]) for j in range(26)]


def mean_distinct(column: np.ndarray, batch: int, batches: int = 40, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    return float(np.mean([len(np.unique(column[rng.choice(len(column), batch, replace=False)]))
                          for _ in range(batches)]))


def main() -> None:
    start = time.perf_counter()
    fit_cols = categorical_columns(DATA_DIR / FIT_FILE)
    held_cols = categorical_columns(DATA_DIR / HELD_OUT_FILE)
    print(f"fit on {FIT_FILE}, held out {HELD_OUT_FILE}; batches {FIT_BATCHES}")
    print("feature  values      s     | fit rows: observed / model       | held out: observed / model (error)")
    fitted = []
    for j, n in enumerate(KAGGLE_CARDINALITIES):
        observed = {b: mean_distinct(fit_cols[j], b) for b in FIT_BATCHES}
        s = fit_exponent(observed, n)
        fitted.append(s)
        model = {b: expected_distinct(s, n, b) for b in FIT_BATCHES}
        held = {b: mean_distinct(held_cols[j], b, seed=1) for b in FIT_BATCHES}
        fit_text = " ".join(f"{observed[b]:.0f}/{model[b]:.0f}" for b in FIT_BATCHES)
        held_text = " ".join(f"{held[b]:.0f}/{model[b]:.0f} ({model[b] / held[b] - 1:+.0%})" for b in FIT_BATCHES)
        print(f"C{j + 1:<7} {n:<11,} {s:<5.2f} | {fit_text:<32} | {held_text}")
    print(f"fitted exponents: {fitted}")
    print(f"stored exponents match the fit: {fitted == KAGGLE_EXPONENTS}")
    print(f"\nMLPerf DLRMv2 tables, one-hot ids of one global batch of {DLRMV2_BATCH:,} (expected distinct rows):")
    print("table  rows         s     uniform      criteo")
    total_uniform = total_criteo = 0.0
    for t, (rows, s) in enumerate(zip(DLRMV2_TABLES, exponents_for(DLRMV2_TABLES))):
        uniform = rows * -np.expm1(DLRMV2_BATCH * np.log1p(-1.0 / rows))
        criteo = expected_distinct(s, rows, DLRMV2_BATCH)
        total_uniform += uniform
        total_criteo += criteo
        print(f"{t:<6} {rows:<12,} {s:<5.2f} {uniform:<12,.0f} {criteo:,.0f}")
    print(f"all    {sum(DLRMV2_TABLES):<12,} {'':5} {total_uniform:<12,.0f} {total_criteo:,.0f}")
    nvidia_thresholded_tables()
    print(f"({time.perf_counter() - start:.0f} s)")



def nvidia_thresholded_tables() -> None:
    """NVIDIA's tables keep the values seen at least 3 (large) or 15 (small) times and fold the rest into row 0:
    the law over the table's rows (what the generator draws) against the law over all of Criteo 1TB's values,
    cut and folded so (``thresholded_distinct``), per table and in all, at the suites' batch sizes."""
    for preset, batch in NVIDIA_MODELS:
        sizes = list(TABLE_SIZE_PRESETS[preset])
        print(f"\nNVIDIA {preset} tables, one-hot ids of a batch of {batch:,} (expected distinct rows):")
        print("table  rows         1TB values   s     generated  thresholded  error")
        generated = thresholded = 0.0
        for t, (rows, s, values) in enumerate(zip(sizes, exponents_for(sizes), CRITEO_1TB_VALUES)):
            ours, theirs = expected_distinct(s, rows, batch), thresholded_distinct(s, rows, values, batch)
            generated += ours
            thresholded += theirs
            print(f"{t:<6} {rows:<12,} {values:<12,} {s:<5.2f} {ours:<10,.0f} {theirs:<12,.0f} {ours / theirs - 1:+.1%}")
        print(f"all    {sum(sizes):<12,} {'':12} {'':5} {generated:<10,.0f} {thresholded:<12,.0f} "
              f"{generated / thresholded - 1:+.1%}")


if __name__ == "__main__":
    main()
