"""A SIGTERMed `preprocess` ends with one line saying what was kept, and rerunning resumes from there."""

from __future__ import annotations

import os
import re
import signal
import threading

import pytest
from click.testing import CliRunner
from pp_synthetic import make_days

import preproc.pipeline as pipeline
from preproc.cli import preprocess

pytestmark = pytest.mark.spark  # reuses the session's Spark (an active session is used as it is)


def test_a_sigterm_ends_with_one_line_naming_what_was_kept_and_rerunning_resumes(spark, tmp_path, monkeypatch):
    inp = make_days(tmp_path / "in", days=2, rows=30, last_rows=20)
    out = tmp_path / "out"
    handled: list[bool] = []
    real_write_chunks = pipeline.write_chunks

    def terminate_soon() -> None:
        handled.append(signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None))
        if handled[-1]:  # without a handler the signal would kill this test process
            os.kill(os.getpid(), signal.SIGTERM)

    def write_chunks_then_stop(*args, **kwargs):  # the transform's Spark job is running when the signal comes
        threading.Timer(0.3, terminate_soon).start()
        return real_write_chunks(*args, **kwargs)

    monkeypatch.setattr(pipeline, "write_chunks", write_chunks_then_stop)
    stopped = CliRunner().invoke(preprocess, [str(inp), str(out), "--skip-preflight"])
    assert handled == [True], "no SIGTERM handler while preprocess runs: the signal would kill it"
    assert stopped.exit_code == 128 + signal.SIGTERM, stopped.output
    lines = stopped.output.splitlines()
    after = lines[next(i for i, line in enumerate(lines) if line.startswith("[3/4 transform]")) + 1:]
    assert len(after) == 1, stopped.output  # the chunks written before the cancel are kept too
    assert re.fullmatch(re.escape(f"preprocess stopped by SIGTERM; kept in {out / '_work'}: the scan of 2 input "
                                  "files, the dictionaries") + r"(, \d+ transformed chunks?)?"
                        "; rerun the same command to resume from there", after[0]), after[0]
    assert not (out / "preprocess.json").exists()

    monkeypatch.setattr(pipeline, "write_chunks", real_write_chunks)
    resumed = CliRunner().invoke(preprocess, [str(inp), str(out), "--skip-preflight"])
    assert resumed.exit_code == 0, resumed.output
    assert "2 of 2 files already scanned, skipped" in resumed.output
    assert "[2/4 dictionaries]: already done, skipped" in resumed.output
    assert (out / "preprocess.json").exists()


def test_removing_a_tree_that_a_dying_task_still_writes_waits_for_it(tmp_path, monkeypatch):
    """The resumed run removes the stopped run's temp chunks; a task of the cancelled job may still add a file
    (rmtree: Directory not empty) until Spark kills it: the removal tries again instead of failing the resume,
    and any other error is raised at once."""
    import errno
    import shutil

    from preproc import atomic

    tree = tmp_path / ".bucket-00000001.tmp"
    (tree / "train").mkdir(parents=True)
    real_rmtree, calls = shutil.rmtree, []

    def racing_rmtree(path, *args, **kwargs):
        calls.append(path)
        if len(calls) < 3:  # a writer adds a file between the listing and the rmdir, twice
            raise OSError(errno.ENOTEMPTY, "Directory not empty", str(path))
        real_rmtree(path, *args, **kwargs)

    monkeypatch.setattr(shutil, "rmtree", racing_rmtree)
    atomic.remove(tree)
    assert not tree.exists() and len(calls) == 3
    (tree / "train").mkdir(parents=True)
    monkeypatch.setattr(shutil, "rmtree", lambda path, *a, **k: (_ for _ in ()).throw(
        OSError(errno.EACCES, "Permission denied", str(path))))
    with pytest.raises(PermissionError):
        atomic.remove(tree)
    monkeypatch.setattr(shutil, "rmtree", lambda path, *a, **k: (_ for _ in ()).throw(
        OSError(errno.ENOTEMPTY, "Directory not empty", str(path))))
    with pytest.raises(OSError, match="Directory not empty"):
        atomic.remove(tree, settle_s=0.3)  # a writer that never stops: the error after the bound
