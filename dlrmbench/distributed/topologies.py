"""Which hybrid-parallel topology a case asks for, and why a case cannot use it (light: no torch).

``distributed.topology``: ``dlrmbench`` (its own placement, all-to-all and DDP top) or ``torchrec_dmp``
(TorchRec's DistributedModelParallel, :mod:`dlrmbench.distributed.torchrec_dmp`). Both run the one
training loop; a suite can put them side by side on otherwise identical cases.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dlrmbench.config.schema import Case

DMP_EMBEDDINGS = ("torchrec_fused",)  # strategies with a ``shardable()`` form DMP can shard


def topology_reason(case: "Case") -> str | None:
    """Why ``case`` cannot run on its ``distributed.topology``, naming the field and the fix; or None."""
    if case.distributed.topology != "torchrec_dmp":
        return None
    if case.world_size < 2:
        return ("distributed.topology torchrec_dmp needs more than one process (processes on the CPU, gpus on "
                "CUDA); with one it would be the single-process run: raise processes/gpus or drop the topology")
    if case.embedding.name not in DMP_EMBEDDINGS:
        return (f"distributed.topology torchrec_dmp shards TorchRec's fused tables and embedding "
                f"{case.embedding.name} has none: set embedding: {' or '.join(DMP_EMBEDDINGS)}, or use "
                "distributed.topology: dlrmbench for this strategy")
    if case.precision != "fp32":
        return (f"distributed.topology torchrec_dmp is tested in fp32 only (its fused tables are fp32); "
                f"precision {case.precision}: set precision: fp32")
    if case.mode == "inference":
        return "distributed.topology torchrec_dmp trains and tests; the inference benchmark runs on one device"
    return None
