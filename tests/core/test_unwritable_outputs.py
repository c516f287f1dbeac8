"""Every command that writes, given an output it cannot write, refuses before any work (issue 28, class
"outputs"): a clear message naming the option, exit 2 (preprocess: 1, its refusal status), no
traceback, nothing created and nothing measured. The output sits under a plain file, so no folder can
be made there (root, which runs CI containers, may write anywhere else)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from dlrmbench.cli import make_cli
from tests.conftest import REPO

RESULTS = REPO / "tests" / "fixtures" / "results" / "baseline"
SUITE = """
name: outs
defaults:
  device: cpu
  batch_size: 64
  dataset: {name: synthetic, options: {train_samples: 256, test_samples: 128}}
  model: {bottom_mlp: [8, 4], top_mlp: [8, 1], embedding_dim: 4, table_sizes: [10, 10]}
cases:
  - name: ck
    checkpoint: {save: BLOCK/sub/ck.pt}
  - name: log
    mlperf_log: {path: "BLOCK/{case}.log"}
"""

COMMANDS = {
    "report --html": (["report", str(RESULTS), "--html", "BLOCK/r.html"], "--html BLOCK/r.html: BLOCK is not a directory"),
    "report --png": (["report", str(RESULTS), "--html", "OK/r.html", "--png", "BLOCK/png"],
                     "--png BLOCK/png: cannot create the PNG directory"),
    "report --history": (["report", str(RESULTS), "--html", "OK/r.html", "--history", "BLOCK/h.html"],
                         "--history BLOCK/h.html: BLOCK is not a directory"),
    "report --html a folder": (["report", str(RESULTS), "--html", "OK"], "Invalid value for '--html': File 'OK' is a dir"),
    "results export": (["results", "export", str(RESULTS), "--format", "parquet", "-o", "BLOCK/x.parquet"],
                       "--output BLOCK/x.parquet: BLOCK is not a directory"),
    "serve-bench": (["serve-bench", "OK/no-export", "-o", "BLOCK/results"], "--output BLOCK/results: cannot create"),
    "mlperf package": (["mlperf", "package", str(RESULTS), "BLOCK/out"], "OUT BLOCK/out: cannot create the submission"),
    "export": (["export", "-o", "BLOCK/out", "--checkpoint", "OK/none.pt"], "export output BLOCK/out: its parent"),
    "preprocess": (["preprocess", "OK/in", "BLOCK/out"], "output TMP/BLOCK/out: cannot be written (TMP/BLOCK is not a directory)"),
    "run (checkpoint.save, mlperf_log.path)": (["run", "OK/suite.yaml", "-o", "OK/results"],
                                               "case ck: checkpoint.save BLOCK/sub/ck.pt cannot be written"),
}


@pytest.mark.parametrize("name", list(COMMANDS))
def test_an_output_that_cannot_be_written_is_refused_before_any_work(tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "BLOCK").write_text("a file where a folder should be")
    (tmp_path / "OK" / "in").mkdir(parents=True)
    (tmp_path / "OK" / "in" / "day_0").write_text("0\t1\n")
    (tmp_path / "OK" / "in" / "day_1").write_text("0\t1\n")
    (tmp_path / "OK" / "suite.yaml").write_text(SUITE)
    before = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))
    args, message = COMMANDS[name]
    run = CliRunner().invoke(make_cli(), args)
    assert run.exit_code == (1 if name == "preprocess" else 2), run.output
    assert message.replace("TMP", str(tmp_path)) in run.output, run.output
    assert run.exception is None or isinstance(run.exception, SystemExit)
    assert "Traceback" not in run.output
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == before
    if name.startswith("run"):
        assert "case log: mlperf_log.path BLOCK/log.log cannot be written" in run.output
