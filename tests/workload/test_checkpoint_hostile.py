"""Hostile checkpoint and log paths: empty or foreign files give clean messages (never torch's advice to
load with weights_only=False, never terminal escape codes), and files dlrmbench did not write are not
overwritten without --overwrite."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from dlrmbench.errors import UserError
from dlrmbench.runner.overwrite import is_dlrmbench_checkpoint, is_dlrmbench_mlperf_log, overwrite_problems
from dlrmbench.safe_text import first_line, plain_text
from dlrmbench.workload.build import build_model
from dlrmbench.workload.checkpoint import load_checkpoint, save_checkpoint
from tests.conftest import run_cli
from .helpers import TABLES, tiny_case
from dlrmbench.workload.build import resolve


class _Evil:
    def __reduce__(self):  # noqa: ANN204
        return (exec, ("raise SystemExit('pickle code ran')",))


def _load_error(path: Path) -> str:
    with pytest.raises(UserError) as info:
        load_checkpoint(build_model(resolve(tiny_case()), TABLES), path, tiny_case(), TABLES)
    return info.value.message


def test_empty_checkpoint_is_a_clean_error(tmp_path: Path) -> None:
    (tmp_path / "empty.pt").write_bytes(b"")
    assert "checkpoint.load" in _load_error(tmp_path / "empty.pt")
    assert "the file is empty" in _load_error(tmp_path / "empty.pt")


@pytest.mark.parametrize("content", [b"\x1b[31mnot a zip\x1b[0m\n", b"PK\x03\x04garbage", b"\x80\x02}q\x00."])
def test_corrupt_checkpoint_message_is_plain_and_safe(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "bad.pt").write_bytes(content)
    message = _load_error(tmp_path / "bad.pt")
    assert "\x1b" not in message and "weights_only=False" not in message
    assert message.startswith("case tiny: checkpoint.load")


def test_rejected_pickle_never_suggests_weights_only_false(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"format": "dlrmbench-checkpoint-1", "payload": _Evil()}, path, pickle_module=pickle)
    message = _load_error(path)
    assert "weights_only" not in message and "\x1b" not in message
    assert "refused: the file holds pickled objects other than tensors and plain data" in message


def test_plain_text_strips_escape_codes_and_controls() -> None:
    text = "\x1b[1mbold\x1b[0m \x1b]8;;http://x\x07link\x1b]8;;\x07 bell\x07 ok\n\x1b[2Jnext"
    assert plain_text(text) == "bold link bell ok\nnext"
    assert first_line("\n\n  \x1b[31mred\x1b[0m  \nsecond") == "red"
    assert first_line("") == "(no message)"


def test_saved_checkpoints_use_the_umask_and_are_recognised(tmp_path: Path) -> None:
    import os
    import stat

    case = tiny_case()
    old = os.umask(0o022)
    try:
        save_checkpoint(build_model(resolve(case), TABLES), tmp_path / "m.pt", case, TABLES)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "m.pt").stat().st_mode) == 0o644
    assert is_dlrmbench_checkpoint(tmp_path / "m.pt")
    torch.save({"state": torch.zeros(2)}, tmp_path / "other.pt")
    assert not is_dlrmbench_checkpoint(tmp_path / "other.pt")


def test_outputs_that_dlrmbench_did_not_write_are_not_overwritten(tmp_path: Path) -> None:
    ours = tmp_path / "ours.pt"
    case = tiny_case()
    save_checkpoint(build_model(resolve(case), TABLES), ours, case, TABLES)
    (tmp_path / "notes.txt").write_text("precious")
    (tmp_path / "run.log").write_text(':::MLLOG {"key": "x", "metadata": {"file": "/elsewhere/train.py"}}\n')
    cases = [
        tiny_case(name="a", checkpoint={"save": str(ours)}),
        tiny_case(name="b", checkpoint={"save": str(tmp_path / "notes.txt")}),
        tiny_case(name="c", mlperf_log={"path": str(tmp_path / "run.log")}),
        tiny_case(name="d", mlperf_log={"path": str(tmp_path / "new-{case}.log")}),
        tiny_case(name="e", checkpoint={"save": str(tmp_path)}),
    ]
    problems = overwrite_problems(cases)
    assert problems == [
        f"case b: checkpoint.save {tmp_path / 'notes.txt'} exists and was not written by dlrmbench; refusing to "
        "overwrite it (move it away, change the path, or pass --overwrite)",
        f"case c: mlperf_log.path {tmp_path / 'run.log'} exists and was not written by dlrmbench; refusing to "
        "overwrite it (move it away, change the path, or pass --overwrite)",
        f"case e: checkpoint.save {tmp_path} is a directory; give a file path",
    ]


def test_mlperf_logs_written_by_dlrmbench_are_recognised(tmp_path: Path) -> None:
    pytest.importorskip("mlperf_logging", reason="the mlperf-logging package (dlrmbench[mlperf]) is not installed")
    from dlrmbench.workload.mlperf_log import MlperfLog

    log = MlperfLog(tiny_case(mlperf_log={"path": str(tmp_path / "m.log")}))
    log.init_start()
    assert is_dlrmbench_mlperf_log(tmp_path / "m.log")


def test_dlrm_dcnv2_logs_written_by_dlrmbench_are_recognised(tmp_path: Path) -> None:
    """A DLRMv2 case re-run must be allowed to replace its own log without --overwrite."""
    pytest.importorskip("mlperf_logging", reason="the mlperf-logging package (dlrmbench[mlperf]) is not installed")
    from dlrmbench.mlperf.dcnv2_log import Dcnv2MlperfLog, Dcnv2Run

    log = Dcnv2MlperfLog(tmp_path / "v2.log", Dcnv2Run(global_batch_size=512, learning_rate=0.004, seed=1))
    log.init_start()
    log.close()
    assert is_dlrmbench_mlperf_log(tmp_path / "v2.log")


def test_run_refuses_to_overwrite_before_running(write_suite, tmp_path: Path) -> None:
    precious = tmp_path / "precious.pt"
    precious.write_bytes(b"user data")
    suite = write_suite(f"""
name: ow
defaults:
  device: cpu
  dataset: {{name: synthetic, options: {{train_samples: 512, test_samples: 256}}}}
  model: {{bottom_mlp: [8, 4], embedding_dim: 4, top_mlp: [8, 1], table_sizes: [5, 5]}}
cases:
  - name: a
    checkpoint: {{save: "{precious}"}}
""")
    proc = run_cli("run", str(suite), "-o", str(tmp_path / "results"), "--quiet", timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"case a: checkpoint.save {precious} exists and was not written by dlrmbench" in proc.stderr
    assert precious.read_bytes() == b"user data" and not (tmp_path / "results").exists()
