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


def torchrun_root_cause(log: str) -> str | None:
    """torchrun's "first observed failure" (rank and exit code) from its log, as one line."""
    match = _ROOT_CAUSE.search(log)
    if not match:
        return None
    fields = dict(re.findall(r"^\s*(rank|exitcode|error_file)\s*:\s*(.+?)\s*$", match.group(1), re.M))
    if not fields:
        return None
    return "torchrun: first failure on rank " + fields.get("rank", "?") + ", exit code " + fields.get("exitcode", "?")


def install() -> None:
    """Register the torchrun launcher with the runner and the memory planner with the planner."""
    from dlrmbench.distributed.memory_plan import memory_reason
    from dlrmbench.runner.isolate import set_multiprocess_launcher
    from dlrmbench.runner.plan import add_check

    set_multiprocess_launcher(torchrun_command)
    add_check(memory_reason)
