"""A rank of a multi-process case scans the values of exactly what it reads, and still refuses a bad one
(issue 24).

A rank used to scan every file of every split when it opened them. Now a process of a multi-process case
scans, when it makes a stream, its share of every global batch: the bytes it scans must be what the same
rank then reads over the epoch (its reader's ``bytes_read``), and what the layout says that share costs
(``tests/datasets/test_read_share.py``'s independent sums), for rows and columns shares in every file format.
A NaN in a row only rank 1 reads is refused on 2 gloo ranks by rank 1, naming the file, sample and feature;
rank 0, whose rows are clean, trains.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from dlrmbench.data.errors import DatasetError
from dlrmbench.data.share import BatchShare
from dlrmbench.data.split import write_split_dataset
from dlrmbench_plugins.datasets._files_impl import MemmapDataset
from dlrmbench_plugins.datasets.files import MemmapOptions
from tests.datasets.dataset_factories import make_arrays
from tests.datasets.test_read_share import BATCH, SAMPLES, SIZES, binary_bytes, files, shares, split_bytes  # noqa: F401
from tests.distributed.harness import run_ranks

BAD_SAMPLE, BAD_FEATURE = 4, 2  # batch 0 (samples 0-6) splits 3 + 4: sample 4 is rank 1's


def reader(path: Path, world: int) -> MemmapDataset:
    return MemmapDataset(MemmapOptions(path=str(path), prefetch=0), world_size=world)


@pytest.mark.parametrize("fmt", ["split", "binary"])
def test_a_rank_scans_exactly_its_share(files, fmt: str) -> None:  # noqa: F811
    for share in shares(2) + shares(3):
        dataset = reader(files[fmt], share.world_size)
        assert dataset.bytes_scanned() == 0  # nothing scanned at open: no rank reads the files whole to scan
        stream = dataset.rank_batches("train", BATCH, torch.device("cpu"), share)
        scanned = dataset.bytes_scanned()
        list(stream)
        expected = split_bytes(share, SIZES) if fmt == "split" else binary_bytes(share)
        assert scanned == dataset.bytes_read() == expected, share
    single = reader(files[fmt], 1)  # one process: every file scanned when opened
    whole = single.bytes_scanned()
    list(single.batches("train", BATCH, torch.device("cpu")))
    assert whole == 2 * single.bytes_read()  # train and test (same sizes here), each read whole


def rank_open(rank: int, world: int, path: str) -> str | None:
    """This rank's dataset of the case, as the worker opens it, and its training stream: the error, if any."""
    from dlrmbench.config.schema import Case
    from dlrmbench.distributed.rank_data import RankData
    from dlrmbench.workload.build import open_dataset, resolve

    case = Case.model_validate({
        "name": "scan-share", "device": "cpu", "processes": world, "embedding": "multi_table",
        "dataset": {"name": "split", "options": {"path": path, "prefetch": 0}}, "batch_size": BATCH, "max_steps": 1,
        "model": {"bottom_mlp": [16, 4], "top_mlp": [8, 1], "embedding_dim": 4}})
    dataset = RankData(open_dataset(resolve(case), torch.device("cpu"), rank, world), BatchShare.rows(rank, world))
    try:
        list(dataset.batches("train", BATCH, torch.device("cpu")))
    except DatasetError as exc:
        return str(exc)
    return None


def test_a_bad_value_only_rank_1_reads_is_refused_by_rank_1(tmp_path: Path) -> None:
    label, numerical, categorical = make_arrays(SAMPLES, SIZES, seed=4)
    numerical[BAD_SAMPLE, BAD_FEATURE] = np.nan
    write_split_dataset(tmp_path, SIZES, {"train": (label, numerical, categorical),
                                          "test": (label, numerical, categorical)})
    assert BatchShare.rows(1, 2).bounds(BATCH) == (3, 7)
    errors = run_ranks(2, rank_open, str(tmp_path))
    assert errors[0] is None  # rank 0's rows are clean
    assert errors[1] is not None
    assert str(tmp_path / "train") in errors[1]
    assert f"sample {BAD_SAMPLE}, numerical feature {BAD_FEATURE}" in errors[1] and "nan" in errors[1]
