"""torchrun commands for hybrid-parallel cases (light: no torch import).

One node: the runner starts ``python -m torch.distributed.run --standalone --nproc_per_node N
-m dlrmbench.runner.worker CASE.json`` (torchrun's own local rendezvous, no restarts: a failed rank
fails the case). Several nodes: run :func:`multinode_command`'s command on every node, with the same
rendezvous endpoint (torchrun's c10d rendezvous), e.g. for 2 nodes x 8 GPUs::

    python -m torch.distributed.run --nnodes 2 --nproc_per_node 8 --rdzv_backend c10d \\
        --rdzv_endpoint HOST0:29500 --rdzv_id RUN -m dlrmbench.runner.worker case.json

with ``gpus: 16`` in the case (the world size). The runner itself launches single-node runs only.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any


def torchrun_command(case: Any, case_file: Path) -> list[str]:
    """The command that runs ``case`` as ``case.world_size`` ranks on this node."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1",
            "--nproc_per_node", str(case.world_size), "--max_restarts", "0",
            "-m", "dlrmbench.runner.worker", str(case_file)]


def multinode_command(case_file: str, nnodes: int, nproc_per_node: int, endpoint: str,
                      run_id: str = "dlrmbench") -> list[str]:
    """The command to run on each of ``nnodes`` nodes (same ``endpoint``, ``host:port`` of one node)."""
    return ["python", "-m", "torch.distributed.run", "--nnodes", str(nnodes), "--nproc_per_node",
            str(nproc_per_node), "--rdzv_backend", "c10d", "--rdzv_endpoint", endpoint, "--rdzv_id", run_id,
            "--max_restarts", "0", "-m", "dlrmbench.runner.worker", case_file]


_ROOT_CAUSE = re.compile(r"Root Cause \(first observed failure\):(.*?)(?:={5,}|\Z)", re.S)


def torchrun_root_cause(log: str) -> tuple[int, int] | None:
    """``(rank, exit code)`` of torchrun's "first observed failure" in its log, or None."""
    match = _ROOT_CAUSE.search(log)
    if not match:
        return None
    rank = re.search(r"^\s*rank\s*:\s*(-?\d+)", match.group(1), re.M)
    code = re.search(r"^\s*exitcode\s*:\s*(-?\d+)", match.group(1), re.M)
    if not rank or not code:
        return None
    return int(rank.group(1)), int(code.group(1))


def failure_reason(log: str, reason: str, first_error: dict[str, Any] | None) -> str:
    """``reason`` with torchrun's root cause put first when a rank died without reporting an error."""
    cause = torchrun_root_cause(log)
    if cause is None:
        return reason
    rank, code = cause
    if first_error is not None and first_error.get("failed_rank") == rank:
        return reason  # the rank that failed first reported its own error
    how = f"exit code {code}"
    if code < 0:
        import signal

        try:
            how = f"killed by {signal.Signals(-code).name}"
        except ValueError:
            how = f"killed by signal {-code}"
    return f"rank {rank} died ({how}) without reporting an error (torchrun's first observed failure); then {reason}"

