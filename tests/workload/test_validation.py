"""Inconsistent settings are refused at validation, with the file, line and field path named."""

from __future__ import annotations

from pathlib import Path

import pytest

from dlrmbench.config.loader import SuiteError, load_suite
from dlrmbench.workload.reporter import Reporter
from dlrmbench.workload.train import train
from .helpers import ListDataset, random_batch, tiny_case, workload
from dlrmbench.workload.build import resolve


def _problems(tmp_path: Path, case_yaml: str) -> str:
    path = tmp_path / "s.yaml"
    path.write_text("name: s\ndefaults:\n  device: cpu\ncases:\n  - name: c\n" + case_yaml)
    with pytest.raises(SuiteError) as err:
        load_suite(path)
    return str(err.value)


@pytest.mark.parametrize(("case_yaml", "field", "words"), [
    ("    model:\n      embedding_dim: 64\n", "cases[0].model.embedding_dim",
     "embedding_dim (64) must equal the last bottom_mlp width (128)"),
    ("    model:\n      bottom_mlp: []\n", "cases[0].model.bottom_mlp", "at least 1 item"),
    ("    model:\n      top_mlp: []\n", "cases[0].model.top_mlp", "at least 1 item"),
    ("    model:\n      top_mlp: [64, 2]\n", "cases[0].model.top_mlp", "must end with 1 output"),
    ("    model:\n      max_table_size: 1000\n", "cases[0].model.max_table_size", "needs hash_indices: true"),
    ("    checkpoint: {}\n", "cases[0].checkpoint", "give checkpoint.save, checkpoint.load or both"),
    ("    mode: test\n    checkpoint: {save: x.pt}\n", "cases[0]", "checkpoint.save only applies to mode train"),
    ("    inference: {cuda_graphs: true}\n", "cases[0]", "inference.cuda_graphs needs device: cuda"),
    ("    mlperf_log: {path: x.log, division: closed}\n    model: {bottom_mlp: [4], embedding_dim: 4}\n",
     "cases[0]", "mlperf_log.division closed needs the reference layer counts"),
    ("    mlperf_log: {path: x.log, division: final}\n", "cases[0].mlperf_log.division", "'open' or 'closed'"),
])
def test_bad_model_settings_name_the_field(tmp_path: Path, case_yaml: str, field: str, words: str) -> None:
    message = _problems(tmp_path, case_yaml)
    assert f"s.yaml:" in message
    assert f"{field}:" in message or f"{field} " in message, message
    assert words in message, message


def test_good_settings_load(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(
        "name: ok\ndefaults:\n  device: cpu\ncases:\n  - name: c\n"
        "    model: {hash_indices: true, max_table_size: 1000}\n"
        "    checkpoint: {save: 'ck/{case}.pt'}\n    mlperf_log: {path: 'logs/{case}.log'}\n"
    )
    [case] = load_suite(path).cases
    assert case.model.max_table_size == 1000 and case.mlperf_log.division == "open"


def test_batch_larger_than_dataset_is_refused_at_open() -> None:
    case = tiny_case(batch_size=4096)
    with pytest.raises(ValueError, match="batch size 4096 is larger than the synthetic train split"):
        from dlrmbench.workload.build import build_workload

        work = build_workload(resolve(case))
        train(work, Reporter(stream=None))


def test_batch_larger_than_any_dataset_names_batch_size() -> None:
    """A dataset that yields no complete batch (any plugin): the loop names the field."""
    work = workload(tiny_case(), ListDataset([], [random_batch(4, 3, [7, 5, 3], 0)], [7, 5, 3]))
    with pytest.raises(ValueError, match="batch_size 8 is larger than the training split"):
        train(work, Reporter(stream=None))
