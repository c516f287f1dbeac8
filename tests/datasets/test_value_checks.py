"""No silent wrong result from bad data values: NaN/inf numerical values, metadata that disagrees with
the files, non-finite scores, and a dataset file truncated under a running reader."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from tests.datasets.dataset_factories import SIZES

from dlrmbench.data.errors import DatasetError
from dlrmbench.data.validation.inspect import inspect_dataset
from dlrmbench.metrics.auc import NonFiniteScores, roc_auc
from dlrmbench.runner.collect import killed_by
from dlrmbench_plugins.datasets._files_impl import BinaryDataset, SplitDataset
from dlrmbench_plugins.datasets.files import ReaderOptions
from dlrmbench.config.schema import Case


def _poke_split_numerical(root: Path, split: str, sample: int, feature: int, value: float) -> int:
    path = root / split / "numerical.bin"
    data = np.fromfile(path, dtype="<f2").reshape(-1, 13)
    data[sample, feature] = value
    data.tofile(path)
    return (sample * 13 + feature) * 2


def _poke_binary_numerical(root: Path, split: str, sample: int, feature: int, value: float) -> int:
    path = root / f"{split}_data.bin"
    records = np.fromfile(path, dtype="<i4").reshape(-1, 40)
    records[sample, 1 + feature] = np.asarray([value], dtype="<f4").view("<i4")[0]
    records.tofile(path)
    return sample * 160 + 4 * (1 + feature)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("split", ["train", "test"])
def test_non_finite_numerical_values_are_refused_by_inspect_and_the_reader(split_dataset, binary_dataset,
                                                                          split, value) -> None:
    for (root, _), poke, reader in ((split_dataset, _poke_split_numerical, SplitDataset),
                                    (binary_dataset, _poke_binary_numerical, BinaryDataset)):
        offset = poke(root, split, 7, 4, value)
        report = inspect_dataset(root)
        assert not report["ok"]
        shown = {"nan": "nan", "inf": "inf", "-inf": "-inf"}[str(value)]
        problem = next(p for p in report["problems"] if "numerical feature" in p)
        assert f"sample 7, numerical feature 4 (byte offset {offset}) is {shown}" in problem
        with pytest.raises(DatasetError, match=rf"sample 7, numerical feature 4 \(byte offset {offset}\) is {shown}"):
            reader(ReaderOptions(path=str(root)), Case(name="c", device="cpu"))


def test_auc_refuses_non_finite_scores() -> None:
    labels = torch.tensor([0.0, 1.0, 0.0, 1.0])
    assert roc_auc(torch.tensor([0.1, 0.9, 0.2, 0.8]), labels) == 1.0
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(NonFiniteScores, match=r"1 of 4 scores are not finite .* the first at sample 2"):
            roc_auc(torch.tensor([0.1, 0.9, bad, 0.8]), labels)


def test_evaluation_fails_with_a_reason_when_scores_are_not_finite() -> None:
    from dlrmbench.workload.evaluate import evaluate
    from dlrmbench.workload.precision import PrecisionPolicy
    from dlrmbench_plugins.families._dlrm import DlrmFamily

    class NaNModel(torch.nn.Module):
        def forward(self, numerical, categorical):
            return numerical.sum(dim=1)  # NaN wherever an input is NaN

    class Batch:
        def __init__(self, numerical):
            self.numerical, self.categorical, self.label = numerical, None, torch.tensor([0.0, 1.0])

        def to(self, device, non_blocking=False):
            return self

    batches = [Batch(torch.tensor([[1.0], [2.0]])), Batch(torch.tensor([[math.nan], [2.0]]))]
    policy = PrecisionPolicy.__new__(PrecisionPolicy)
    policy.autocast = lambda: torch.autocast("cpu", enabled=False)  # type: ignore[method-assign]
    with pytest.raises(NonFiniteScores, match="1 of 4 scores are not finite"):
        evaluate(DlrmFamily(None), NaNModel(), batches, torch.device("cpu"), policy)


def test_model_size_listing_fewer_features_than_the_cat_files_is_an_error(split_dataset) -> None:
    root, _ = split_dataset
    data = json.loads((root / "model_size.json").read_text())
    short = dict(list(data.items())[:-2])
    (root / "model_size.json").write_text(json.dumps(short))
    report = inspect_dataset(root)
    assert not report["ok"]
    assert any("holds cat_24.bin, cat_25.bin, which model_size.json does not list (it lists 24" in p
               for p in report["problems"])
    with pytest.raises(DatasetError, match="cat_24.bin, cat_25.bin, which model_size.json does not list"):
        SplitDataset(ReaderOptions(path=str(root)), Case(name="c", device="cpu"))


def test_model_size_listing_more_features_than_the_cat_files_is_an_error(split_dataset) -> None:
    root, _ = split_dataset
    data = json.loads((root / "model_size.json").read_text())
    data[f"_c{14 + len(data)}"] = 5
    (root / "model_size.json").write_text(json.dumps(data))
    with pytest.raises(DatasetError, match=r"cat_26.bin: missing"):
        SplitDataset(ReaderOptions(path=str(root)), Case(name="c", device="cpu"))


TRUNCATE_UNDER_MAP = """
import os, sys
from pathlib import Path
from dlrmbench.data.memmap import MemmapSplitFiles
sizes = {sizes}
files = MemmapSplitFiles(Path(sys.argv[1]), sizes)
os.truncate(files.paths[1], 0)   # the file shrinks under the map (a rewrite in place)
batch = files.read(files.samples - 64, 64)
print(float(batch.numerical.astype('float32').sum()))
"""


def test_a_file_truncated_under_a_memory_map_is_named_as_the_cause(split_dataset) -> None:
    root, _ = split_dataset
    proc = subprocess.run([sys.executable, "-c", TRUNCATE_UNDER_MAP.format(sizes=SIZES), str(root / "train")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == -7  # SIGBUS: what the worker dies of; the recorded reason must explain it
    reason = killed_by(-proc.returncode)
    assert reason.startswith("was killed by signal 7 (SIGBUS: a bus error: a memory-mapped file (the dataset) "
                             "was truncated or replaced while it was being read")
