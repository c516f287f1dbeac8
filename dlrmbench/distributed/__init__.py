"""Multi-process cases on torch.distributed: the ranks of the topology plugins (facts sheet section 5).

dlrmbench's hybrid layout for DLRM (model-parallel embeddings, each table on one rank, and bottom MLP on
rank 0; data-parallel interaction and top MLP under DDP; an all-to-all between them), TorchRec's
DistributedModelParallel (``torchrec_dmp``), and plain data parallelism for any family
(``data_parallel``). ``placement``, ``hybrid_memory`` and ``launch`` are light (no torch); ``exchange``,
``model``, ``hybrid_layout``, ``data_parallel``, ``train``, ``worker`` and ``torchrec_dmp`` import torch.

The runner calls this package only through the functions below (one way: nothing here imports
``dlrmbench.runner``), so the layering test can hold the runner away from the internals.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dlrmbench.config.schema import Case
    from dlrmbench.resolved import ResolvedCase


def launch_command(case: "Case", case_file: Path) -> list[str]:
    """The torchrun command that runs ``case`` as ``case.world_size`` ranks on this node (light)."""
    from dlrmbench.distributed.launch import torchrun_command

    return torchrun_command(case, case_file)


def failure_reason(log: str, reason: str, first_error: dict[str, Any] | None) -> str:
    """``reason`` with torchrun's first observed failure put first when a rank died silently (light)."""
    from dlrmbench.distributed.launch import failure_reason as explain

    return explain(log, reason, first_error)


def stopped_rank_watch(case: "Case", launcher_pid: int) -> Any:
    """A watch whose ``check()`` names a rank stopped for ``distributed.timeout_s`` (light: psutil only)."""
    from dlrmbench.distributed.launch import StoppedRankWatch

    return StoppedRankWatch(launcher_pid, case.world_size, case.distributed.timeout_s)


def run_rank(resolved: "ResolvedCase") -> int:
    """Run the resolved case (read by the worker from its case file) as the torchrun rank of this
    process (imports torch; no plugin registry); the exit status."""
    from dlrmbench.distributed.worker import main

    return main(resolved)
