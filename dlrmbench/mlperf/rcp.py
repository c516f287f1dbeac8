"""``dlrmbench mlperf rcp``: the MLCommons RCP checker over the ``dlrm_dcnv2`` logs of a set of runs.

The reference convergence point (RCP) test compares the olympic mean of the runs' epochs to converge with
the reference runs' at the same global batch (mlperf-logging's ``rcp_checker``, ruleset 6.0.0 by default:
the newest that lists ``dlrm_dcnv2``). This module gathers the logs (from result sets, or MLLOG files), copies
them as ``result_N.txt`` into a temporary folder (what the checker reads), runs the checker in this process
and returns its verdict with what it logged. It never calls a set of runs converged when the rules would
not: a ``dlrm_dcnv2`` result is 10 runs (``rcp_checker.submission_runs``); with fewer, the checker's verdict
is reported and convergence is not claimed. No torch.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from dlrmbench.errors import UserError
from dlrmbench.mlperf.package import BENCHMARK, LogInfo, case_logs, read_log_keys

DEFAULT_RULESET = "6.0.0"
RULESETS = ("3.0.0", "3.1.0", "4.0.0", "4.1.0", "5.0.0", "5.1.0", "6.0.0")  # those that list dlrm_dcnv2


@dataclass
class RcpVerdict:
    """The checker's answer for one set of runs, and whether convergence may be claimed."""

    runs: int
    runs_required: int
    ruleset: str
    passed: bool
    message: str  # the checker's: "RCP found", "RCP Interpolation", "Insufficient convergence", ...
    global_batch_size: int | None = None
    epochs: list[float] = field(default_factory=list)  # per run, as the checker reads them (1e9: not converged)
    open_runs: list[str] = field(default_factory=list)  # logs that do not say division closed
    checker_log: list[str] = field(default_factory=list)

    @property
    def converged(self) -> bool:
        """The claim: the checker passed on at least as many runs as a result needs."""
        return self.passed and self.runs >= self.runs_required

    def lines(self) -> list[str]:
        """The verdict as plain lines (numbers and names never split)."""
        shown = ", ".join("none" if e >= 1e9 else f"{e:g}" for e in self.epochs)
        out = [f"RCP checker (mlperf-logging, ruleset {self.ruleset}, pruned RCPs): {self.runs} {BENCHMARK} "
               f"run(s) at global batch {self.global_batch_size}",
               f"epochs to converge: {shown}",
               f"checker: {self.message}, RCP test {'PASSED' if self.passed else 'FAILED'}"]
        out += [f"  {line}" for line in _record_summary(self.checker_log)]
        if self.open_runs:
            out.append(f"not closed division (RCPs bind closed results): {', '.join(self.open_runs)}")
        if self.converged:
            out.append(f"convergence: the {self.runs} runs pass the RCP test")
        elif self.runs < self.runs_required:
            out.append(f"convergence NOT claimed: {self.runs} run(s); a {BENCHMARK} result needs "
                       f"{self.runs_required} (MLPerf training rules; the checker's verdict on fewer is not one)")
        else:
            out.append("convergence NOT claimed: the RCP test failed")
        return out


def _number(text: str, key: str) -> float | None:
    match = re.search(rf"'{key}': (?:np\.float64\()?([-0-9.e]+)", text)
    return float(match.group(1)) if match else None


def _record_summary(checker_log: list[str]) -> list[str]:
    """The reference's and the submission's mean epochs from the checker's log (its record is a long dict)."""
    out = []
    for line in checker_log:
        if line.startswith("RCP Record:"):
            mean, least = _number(line, "RCP Mean"), _number(line, "Min Epochs")
            if mean is not None and least is not None:
                out.append(f"reference: RCP mean {mean:.4f} epochs, minimum acceptable submission mean {least:.4f}")
        elif line.startswith("Submission mean epochs"):
            out.append(f"submission: olympic mean {line.rsplit(':', 1)[-1].strip()} epochs")
    return out


def gather_logs(paths: list[Path]) -> list[LogInfo]:
    """The ``dlrm_dcnv2`` MLLOG files of ``paths``: result-set folders (their cases' logs) or log files."""
    logs = []
    for path in paths:
        if path.is_dir():
            for log_path, case, result in case_logs(path):
                log = read_log_keys(log_path)
                log.case, log.result = case, result
                logs.append(log)
        elif path.is_file():
            log = read_log_keys(path)
            log.case = path.name
            logs.append(log)
        else:
            raise UserError(f"{path}: no such result set or MLPerf log")
    ours = [log for log in logs if log.keys.get("submission_benchmark") == BENCHMARK]
    if not ours:
        raise UserError(f"{', '.join(str(p) for p in paths)}: no {BENCHMARK} MLPerf log found (cases need "
                        f"mlperf_log: {{benchmark: {BENCHMARK}, path: ...}})")
    return ours


class _Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage().strip())


def check_rcp(logs: list[LogInfo], ruleset: str = DEFAULT_RULESET) -> RcpVerdict:
    """Run mlperf-logging's RCP checker (pruned RCPs, as the package checker does) over ``logs``."""
    if ruleset not in RULESETS:
        raise UserError(f"--ruleset {ruleset}: the RCP checker lists {BENCHMARK} in rulesets {', '.join(RULESETS)} "
                        f"(6.1.0 replaced it with dlrmv4); use {DEFAULT_RULESET}")
    try:
        from mlperf_logging.rcp_checker import rcp_checker
    except ImportError:
        raise UserError("the RCP checker needs mlperf-logging: pip install 'dlrmbench[mlperf]'") from None
    required = int(rcp_checker.submission_runs["training"][BENCHMARK])
    staging = Path(tempfile.mkdtemp(prefix="dlrmbench-rcp-"))
    captured = _Captured()
    root = logging.getLogger()
    level = root.level
    try:
        files = []
        for number, log in enumerate(logs):
            target = staging / f"result_{number}.txt"
            shutil.copyfile(log.path, target)
            files.append(str(target))
        root.addHandler(captured)
        root.setLevel(logging.INFO)
        batch, epochs, _ = rcp_checker.get_submission_epochs(files, ruleset, False)
        if epochs is None:  # more than one run did not converge: the checker reads no epochs of the set
            epochs = [rcp_checker.read_submission_file(f, ruleset, False)[1] for f in files]
        passed, message, _ = rcp_checker.check_directory(str(staging), "training", ruleset, False, False,
                                                         rcp_pass="pruned_rcps")
    finally:
        root.removeHandler(captured)
        root.setLevel(level)
        shutil.rmtree(staging, ignore_errors=True)
    return RcpVerdict(runs=len(logs), runs_required=required, ruleset=ruleset, passed=bool(passed),
                      message=str(message), global_batch_size=batch if batch != -1 else None,
                      epochs=[float(e) for e in epochs],
                      open_runs=[log.case for log in logs if log.keys.get("submission_division") != "closed"],
                      checker_log=captured.lines)
