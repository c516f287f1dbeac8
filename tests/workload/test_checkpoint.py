"""Checkpoints: a test-mode case on a saved checkpoint reproduces the saving run's AUC exactly;
unsafe files and other model shapes are refused with clear messages."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from dlrmbench.config.loader import load_suite
from dlrmbench.errors import UserError
from dlrmbench.host import Host
from dlrmbench.plugins import get_registry
from dlrmbench.runner.execute import execute
from dlrmbench.runner.plan import plan
from dlrmbench.workload.build import build_model
from dlrmbench.workload.checkpoint import load_checkpoint, save_checkpoint
from .helpers import TABLES, tiny_case
from dlrmbench.workload.build import resolve

SUITE = """
name: ckpt
defaults:
  device: cpu
  precision: fp32
  batch_size: 64
  test_batch_size: 128
  seed: 4
  dataset:
    name: synthetic
    options: {{train_samples: 1024, test_samples: 512, seed: 2, num_numerical: 3}}
  model:
    num_numerical: 3
    bottom_mlp: [8, 4]
    embedding_dim: 4
    top_mlp: [8, 1]
    table_sizes: [11, 7, 5, 3]
  optimizer: {{lr: 0.5, warmup_steps: 2, decay_start_step: 8, decay_steps: 8}}
cases:
  - name: train
    mode: train
    checkpoint: {{save: "{ckpt}/{{case}}.pt"}}
  - name: test
    mode: test
    seed: 999
    checkpoint: {{load: "{ckpt}/train.pt"}}
"""


class _Quiet:
    def start_case(self, label: str, batch_size: int) -> None: ...
    def on_event(self, event: dict) -> None: ...
    def end_case(self, status: str, summary: str) -> None: ...


def test_test_mode_reproduces_the_saved_runs_auc(tmp_path: Path) -> None:
    suite = tmp_path / "ckpt.yaml"
    suite.write_text(SUITE.format(ckpt=tmp_path / "ckpts"))
    loaded = load_suite(suite)
    planned = plan(loaded.cases, Host(), get_registry())
    report = execute(loaded, planned, tmp_path / "out", {}, _Quiet())
    train_result, test_result = report.results
    assert train_result.status == "ok" and test_result.status == "ok", (train_result.reason, test_result.reason)
    assert (tmp_path / "ckpts" / "train.pt").is_file()
    saved_auc = train_result.evaluations[-1]["auc"]
    assert 0.5 < saved_auc < 1.0
    assert test_result.value("auc") == saved_auc  # exactly, not approximately
    assert test_result.evaluations[0]["log_loss"] == train_result.evaluations[-1]["log_loss"]


def test_checkpoint_holds_only_tensors_and_round_trips(tmp_path: Path) -> None:
    case = tiny_case()
    model = build_model(resolve(case), TABLES)
    save_checkpoint(model, tmp_path / "m.pt", case, TABLES)
    torch.load(tmp_path / "m.pt", weights_only=True)  # loadable without unpickling arbitrary objects
    other = build_model(resolve(tiny_case(seed=77)), TABLES)
    load_checkpoint(other, tmp_path / "m.pt", case, TABLES)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), other.state_dict().values()))


class _Evil:
    def __reduce__(self):  # noqa: ANN204
        return (exec, ("raise SystemExit('pickle code ran')",))


def test_pickled_objects_are_refused_not_executed(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"format": "dlrmbench-checkpoint-1", "payload": _Evil()}, path, pickle_module=pickle)
    with pytest.raises(UserError, match="refused: the file holds pickled objects other than tensors"):
        load_checkpoint(build_model(resolve(tiny_case()), TABLES), path, tiny_case(), TABLES)


def test_other_model_shape_is_refused_with_both_shapes(tmp_path: Path) -> None:
    case = tiny_case()
    save_checkpoint(build_model(resolve(case), TABLES), tmp_path / "m.pt", case, TABLES)
    bigger = tiny_case(model={"bottom_mlp": [6, 4], "top_mlp": [9, 3, 1], "table_sizes": list(TABLES)})
    with pytest.raises(UserError) as err:
        load_checkpoint(build_model(resolve(bigger), TABLES), tmp_path / "m.pt", bigger, TABLES)
    message = str(err.value)
    assert "different model shape" in message and "bottom_mlp, top_mlp differ" in message
    assert "checkpoint: bottom [5, 4] top [6, 3, 1]" in message
    assert "this case:  bottom [6, 4] top [9, 3, 1]" in message


def test_missing_checkpoint_names_the_field(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"checkpoint.load .*nope.pt: no such file"):
        load_checkpoint(build_model(resolve(tiny_case()), TABLES), tmp_path / "nope.pt", tiny_case(), TABLES)
