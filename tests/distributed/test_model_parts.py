"""Building one rank's modules: which parts it holds, and both initialisations (no process group needed)."""

from __future__ import annotations

import math

import torch

from dlrmbench.config.schema import Case
from dlrmbench.distributed.model import build_parts, table_weights
from dlrmbench.distributed.placement import device_mapping
from dlrmbench.workload.build import build_model
from dlrmbench.workload.build import resolve

SIZES = [400, 100, 30, 9]


def make_case(init: str) -> Case:
    return Case.model_validate({"name": "p", "device": "cpu", "processes": 2, "batch_size": 64, "seed": 5,
                                "model": {"bottom_mlp": [8, 4], "top_mlp": [8, 1], "embedding_dim": 4,
                                          "table_sizes": SIZES},
                                "distributed": {"init": init}})


def test_replicate_keeps_the_single_process_weights_of_the_rank_tables() -> None:
    case = make_case("replicate")
    placement = device_mapping(SIZES, 2)
    single = build_model(resolve(case), SIZES)
    for rank in range(2):
        parts = build_parts(resolve(case), SIZES, placement, rank)
        assert (parts.bottom_mlp is not None) == (rank == 0)
        for i, f in enumerate(placement.tables[rank]):
            assert torch.equal(table_weights(parts.embeddings, i, SIZES[f]), table_weights(single.embeddings, f, SIZES[f]))
        assert torch.equal(parts.top.out.weight, single.out.weight)


def test_sharded_init_is_deterministic_and_uses_the_reference_bounds() -> None:
    case = make_case("sharded")
    placement = device_mapping(SIZES, 2)
    for rank in range(2):
        a = build_parts(resolve(case), SIZES, placement, rank)
        b = build_parts(resolve(case), SIZES, placement, rank)
        for i, f in enumerate(placement.tables[rank]):
            table = table_weights(a.embeddings, i, SIZES[f])
            assert torch.equal(table, table_weights(b.embeddings, i, SIZES[f]))
            bound = math.sqrt(1.0 / SIZES[f])
            assert float(table.abs().max()) <= bound and float(table.abs().max()) > 0.5 * bound
        assert torch.equal(a.top.out.weight, b.top.out.weight)
