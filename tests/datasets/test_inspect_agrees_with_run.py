"""`dataset inspect` and `run` agree on every dataset plugin with files: what run's reader refuses (opened as
the worker opens it, through the plugin), inspect reports, naming the same file; what it accepts, inspect passes.
A dataset plugin (but the generated ones) without rows here fails the test."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from click.testing import CliRunner

from dlrmbench.cli import make_cli
from dlrmbench.config.schema import Case
from dlrmbench.data.model_size import write_table_sizes
from dlrmbench.errors import UserError
from dlrmbench.plugins import get_registry
from tests.datasets.dataset_factories import SIZES, binary_dataset as _binary, split_dataset as _split
from tests.dlrmv2.mlperf_files import SMALL_SIZES, write_day


def _npy(root: Path) -> Path:
    for day in range(3):
        write_day(root, day, rows=40, seed=day)
    return root


def _sasrec(root: Path) -> Path:
    root.mkdir()
    (root / "sasrec_format.csv").write_text(
        "index,user_id,sequence_item_ids,sequence_ratings,sequence_timestamps\n"
        '0,5,"10,11,12,13,14","5,4,3,2,1","100,200,300,400,500"\n1,2,"3,1,4","1,1,1","7,7,9"\n')
    return root


def _cut(path: Path, by: int) -> str:
    os.truncate(path, path.stat().st_size - by)
    return path.name


def _nan_numerical(root: Path, split: str) -> str:
    path = root / split / "numerical.bin"
    values = np.fromfile(path, dtype=np.float16)
    values[5] = np.nan
    values.tofile(path)
    return "numerical.bin"


def _fewer_features(root: Path) -> str:
    write_table_sizes(root / "model_size.json", SIZES[:-1])
    return f"cat_{len(SIZES) - 1}.bin"


def _npy_rows(root: Path) -> str:
    np.save(root / "day_1_dense.npy", np.zeros((39, 13), dtype=np.float32))
    return "day_1_dense.npy"


def _npy_nan(root: Path) -> str:
    """A NaN dense value: the reader refuses it per batch (check_values), when the batch is read."""
    dense = np.load(root / "day_1_dense.npy")
    dense[17, 4] = np.nan
    np.save(root / "day_1_dense.npy", dense)
    return "day_1_dense.npy"


def _npy_dtype(root: Path) -> str:
    np.save(root / "day_0_labels.npy", np.zeros((40, 1), dtype=np.float64))
    return "day_0_labels.npy"


def _sasrec_row(row: str) -> Callable[[Path], str]:
    def write(root: Path) -> str:
        with open(root / "sasrec_format.csv", "a") as handle:
            handle.write(row)
        return "sasrec_format.csv"
    return write


SPLIT_BAD = {
    "a cat file cut mid-sample": lambda root: _cut(root / "train" / "cat_3.bin", 1) if SIZES[3] > 127 else
    _cut(root / "train" / "numerical.bin", 1),
    "a missing cat file": lambda root: (root / "test" / "cat_2.bin").unlink() or "cat_2.bin",
    "NaN in the numerical features": lambda root: _nan_numerical(root, "train"),
    "model_size.json listing fewer features than the cat files": _fewer_features,
}
#: dataset plugin -> (the layout it reads, the case's model block (with the dataset's other ``options``),
#: {bad input: change -> the file to name})
ROWS: dict[str, tuple[Callable[[Path], Path], dict, dict[str, Callable[[Path], str]]]] = {
    "split": (_split, {}, SPLIT_BAD),
    "memmap": (_split, {}, SPLIT_BAD),
    "binary": (_binary, {}, {
        "a record cut short": lambda root: _cut(root / "train_data.bin", 7),
        "model_size.json listing fewer features": lambda root: write_table_sizes(
            root / "model_size.json", SIZES[:-1]) or "model_size.json",
        "a missing test file": lambda root: (root / "test_data.bin").unlink() or "test_data.bin",
    }),
    "mlperf_npy": (_npy, {"table_sizes": SMALL_SIZES, "options": {"multi_hot": "none"}}, {
        "a day whose arrays disagree on rows": _npy_rows,
        "labels of the wrong dtype": _npy_dtype,
        "NaN in the dense features": _npy_nan,
        "an array cut short under its header": lambda root: _cut(root / "day_2_sparse.npy", 8),
    }),
    "sasrec_csv": (_sasrec, {"family": "hstu", "num_items": 50, "item_embedding_dim": 8, "num_blocks": 1,
                             "num_heads": 1, "dqk": 8, "dv": 8}, {
        "a non-integer item id": _sasrec_row('2,7,"1,2,x","1,1,1","1,2,3"\n'),
        "a sequence too short to split": _sasrec_row('2,7,"1,2","1,1","1,2"\n'),
        "timestamps going back": _sasrec_row('2,7,"1,2,3","1,1,1","1,5,3"\n'),
    }),
}


#: Dataset plugins that generate their samples (no files to inspect).
GENERATED = {"synthetic", "hstu_synthetic", "dlrmv3_streaming"}


def test_every_dataset_plugin_has_rows() -> None:
    assert sorted(set(get_registry().names("dataset")) - GENERATED) == sorted(ROWS)


def _run_refusal(plugin: str, root: Path, model: dict) -> str | None:
    """What run's worker says when it opens the dataset through the plugin (None: it opens)."""
    from dlrmbench.workload.build import open_case_data, resolve

    model = dict(model)
    options = model.pop("options", {})  # the dataset's options beside its path
    case = Case.model_validate({"name": "c", "device": "cpu", "model": model, "batch_size": 8,
                                "dataset": {"name": plugin, "options": {"path": str(root), **options}}})
    try:
        data = open_case_data(resolve(case))
        for split in ("train", "test"):  # a lazy reader checks a split's files when its batches are asked for,
            for _ in data.dataset.batches(split, 8, data.device):  # a per-batch check when they are read
                pass
    except UserError as exc:
        return exc.message
    del data
    return None


def _inspect(root: Path) -> tuple[int, str]:
    result = CliRunner().invoke(make_cli(), ["dataset", "inspect", str(root), "--json"])
    assert "Traceback" not in result.output and not isinstance(result.exception, (KeyError, TypeError)), result.output
    return result.exit_code, result.output


@pytest.mark.parametrize("plugin, bad", [(p, b) for p, (_, _, bads) in ROWS.items() for b in bads])
def test_what_run_refuses_inspect_reports(tmp_path: Path, plugin: str, bad: str) -> None:
    make, model, bads = ROWS[plugin]
    root = make(tmp_path / plugin)
    assert _run_refusal(plugin, root, model) is None  # the good layout opens
    assert _inspect(root)[0] == 0
    named = bads[bad](root)
    refused = _run_refusal(plugin, root, model)
    code, output = _inspect(root)
    assert refused is not None, f"{plugin}, {bad}: run opened it"
    assert named in refused, refused
    assert code != 0 and named in output, f"{plugin}, {bad}: run refuses ({refused}) but inspect says:\n{output}"
