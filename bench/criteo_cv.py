"""k-fold cross-validation of small DLRM configurations on the real Criteo rows in ../shared/data/criteo.

Chooses the settings of ``suites/criteo-sample.yaml`` (one CPU epoch on a small sample of real rows,
read from a ``dlrmbench preprocess`` output) by their mean held-out AUC over k folds, not by one split.
Every fold is preprocessed the way ``dlrmbench preprocess`` does it: categorical values counted over
all rows of the fold's dataset (train and held-out, as the Spark pipeline counts every input file;
labels are not used), kept when seen at least ``threshold`` times, ids most frequent first, rare and
missing -> 0; numericals ln(x + 3), missing or x + 3 <= 0 -> 0. Training is the harness's own loop
(``bench/real_criteo.py``: ``dlrmbench.workload.train``). Only settings a suite can express are
compared (no decay that depends on the sample size).

    .venv/bin/python bench/criteo_cv.py --folds 5            # prints a table: config, mean, std, per fold
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_criteo import DATA_DIR, InMemoryDataset, preprocess, read_raw, train_small  # noqa: E402

FILES = ("autoint_train_examples_head10k.txt", "deepfm_pytorch_optimization_test_10k_reconstructed.txt",
         "deepctr_criteo_sample_200_reconstructed.txt", "paddlerec_part0_100.txt")

BASE: dict[str, Any] = {
    "batch_size": 8, "test_batch_size": 1024, "epochs": 1, "seed": 12345, "progress_every": 100000,
    "model": {"bottom_mlp": [32, 16], "embedding_dim": 16, "top_mlp": [1], "interaction": "cat"},
    "optimizer": {"lr": 0.7, "warmup_steps": 200, "decay_start_step": 200, "decay_steps": 0},
}


def variant(name: str, threshold: int, **over: Any) -> tuple[str, int, dict[str, Any]]:
    case = json.loads(json.dumps(BASE))
    for key, value in over.items():
        section, _, field = key.partition("__")
        if field:
            case[section][field] = value
        else:
            case[section] = value
    return name, threshold, case


def adagrad(lr: float) -> dict[str, Any]:
    """MLPerf DLRMv2's optimizer: Adagrad, no warm-up, no decay (a constant lr)."""
    return {"name": "adagrad", "lr": lr, "warmup_steps": 0, "decay_start_step": 0, "decay_steps": 0}


CANDIDATES = [
    variant("thr3 lr0.7 bs8 constant (old small, no decay)", 3),
    variant("thr3 lr0.7 bs8 decay over 2000 steps", 3, optimizer__decay_steps=1800),
    variant("thr3 lr0.2 bs8 constant", 3, optimizer__lr=0.2),
    variant("thr3 lr0.1 bs8 constant", 3, optimizer__lr=0.1),
    variant("thr3 lr0.3 bs32 constant", 3, batch_size=32, optimizer__lr=0.3, optimizer__warmup_steps=50,
            optimizer__decay_start_step=50),
    variant("thr5 lr0.1 bs8 constant", 5, optimizer__lr=0.1),
    variant("adagrad thr3 lr0.01 bs8", 3, optimizer=adagrad(0.01)),
    variant("adagrad thr3 lr0.03 bs8", 3, optimizer=adagrad(0.03)),
    variant("adagrad thr3 lr0.05 bs32", 3, batch_size=32, optimizer=adagrad(0.05)),
    variant("adagrad thr3 lr0.1 bs32", 3, batch_size=32, optimizer=adagrad(0.1)),
    variant("adagrad thr5 lr0.05 bs32", 5, batch_size=32, optimizer=adagrad(0.05)),
    variant("adagrad thr3 lr0.05 bs32 dim8", 3, batch_size=32, optimizer=adagrad(0.05),
            model={"bottom_mlp": [32, 8], "embedding_dim": 8, "top_mlp": [1], "interaction": "cat"}),
    variant("adagrad thr3 lr0.1 bs64", 3, batch_size=64, optimizer=adagrad(0.1)),
]


def folds(n: int, k: int, seed: int) -> list[np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    return [order[i::k] for i in range(k)]


def run_fold(raw: Any, held: np.ndarray, threshold: int, case: dict[str, Any]) -> float:
    mask = np.zeros(len(raw), dtype=bool)
    mask[held] = True
    train, test = raw[~mask].reset_index(drop=True), raw[mask].reset_index(drop=True)
    import pandas as pd

    both, test_enc = preprocess(pd.concat([train, test], ignore_index=True), test, threshold)
    n = len(train)
    train_enc = type(both)(both.numerical[:n], both.categorical[:n], both.label[:n], both.table_sizes)
    auc, _ = train_small(InMemoryDataset(train_enc, test_enc), case)
    return auc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0, help="fold assignment seed")
    parser.add_argument("--only", type=int, nargs="*", help="candidate indices to run (default: all)")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    raw = read_raw([DATA_DIR / f for f in FILES])
    parts = folds(len(raw), args.folds, args.seed)
    print(f"{len(raw):,} real rows, {args.folds} folds of ~{len(parts[0]):,} held-out rows (fold seed {args.seed})")
    print(f"{'config':<46} {'mean AUC':>8} {'std':>6} {'min':>6}  per fold")
    chosen = [CANDIDATES[i] for i in args.only] if args.only else CANDIDATES
    for name, threshold, case in chosen:
        start = time.perf_counter()
        aucs = [run_fold(raw, held, threshold, case) for held in parts]
        spread = statistics.stdev(aucs) if len(aucs) > 1 else 0.0
        print(f"{name:<46} {statistics.mean(aucs):8.4f} {spread:6.4f} {min(aucs):6.4f}  "
              f"{' '.join(f'{a:.4f}' for a in aucs)}  ({time.perf_counter() - start:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
