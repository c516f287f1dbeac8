"""One epoch on 17,000 real Criteo rows (frequency threshold 3, ln(x+3)) reaches a held-out AUC >= 0.74.

Uses bench/real_criteo.py (its preprocessing and small configuration) on the shared 20,000-row
sample, split with shuffle seed 0 (AUC 0.7469). The figure depends on the split: seeds 0-5 give
0.7469, 0.7338, 0.7235, 0.7355, 0.7258, 0.7440 (mean 0.735), so this is a regression guard on one
deterministic split, not a claim that every split of 20,000 rows reaches 0.74. The sample is
not vendored (Criteo's licence asks to keep copies small): skipped where it is absent.
"""

from __future__ import annotations

import pytest
import torch

from .helpers import real_criteo_bench as _bench


@pytest.mark.slow
def test_one_epoch_on_real_criteo_reaches_auc_074() -> None:
    bench = _bench()
    if not all((bench.DATA_DIR / f).is_file() for f in bench.FILES):
        pytest.skip(f"the real Criteo sample is not at {bench.DATA_DIR}")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        dataset = bench.load_split(frequency_threshold=3, seed=0)
        auc, outcome = bench.train_small(dataset)
    finally:
        torch.set_num_threads(threads)
    assert outcome.steps == 2125  # one epoch of 17,000 rows at batch 8
    assert auc >= 0.74, f"held-out AUC {auc:.4f}"


def test_preprocessing_rules() -> None:
    """Frequency threshold on the training rows only; ln(x + 3), missing -> 0; ids 1..N by frequency."""
    import pandas as pd

    bench = _bench()
    names = ["label"] + [f"I{i}" for i in range(1, 14)] + [f"C{i}" for i in range(1, 27)]
    rows = []
    for label, c1, i1 in ((1, "aa", "0"), (0, "aa", ""), (0, "bb", "5"), (1, "cc", "-2"), (0, "bb", "1")):
        row = {n: pd.NA for n in names}
        row.update(label=label, C1=c1, I1=i1)
        rows.append(row)
    frame = pd.DataFrame(rows).astype({n: "string" for n in names[14:]})
    frame[[f"I{i}" for i in range(1, 14)]] = frame[[f"I{i}" for i in range(1, 14)]].apply(pd.to_numeric)
    train, test = frame.iloc[:4].reset_index(drop=True), frame.iloc[4:].reset_index(drop=True)
    tr, te = bench.preprocess(train, test, frequency_threshold=2)
    assert tr.table_sizes[0] == 2  # only "aa" (2 training rows) is kept: id 1; table = N + 1
    assert tr.categorical[:, 0].tolist() == [1, 1, 0, 0]
    assert te.categorical[:, 0].tolist() == [0]  # "bb" is frequent only if the test row counted: it must not
    assert tr.numerical[:, 0].tolist() == pytest.approx([float(torch.log(torch.tensor(3.0))), 0.0,
                                                         float(torch.log(torch.tensor(8.0))), 0.0])
    assert tr.table_sizes[1] == 1 and tr.categorical[:, 1].tolist() == [0, 0, 0, 0]  # all missing -> id 0
