"""DistributedDlrm: model-parallel bottom MLP and tables, data-parallel interaction and top MLP.

Every rank is called with its share of the global batch (:class:`~dlrmbench.data.share.BatchShare`'s
``columns``, as in NVIDIA's reference: the ids of its own tables for every row, and on the bottom MLP's
rank the dense features of every row) and returns the logits of its own slice ``[offset_r, offset_r + b_r)``,
split from the batch's row count (:class:`~dlrmbench.distributed.placement.RankSlices`: the training, test
and inference batches and a split's short last batch all split by one rule). Rank r looks up only its tables,
rank 0 also runs the bottom MLP over the global batch; :func:`bottom_to_top` hands every rank its slice
of all vectors, which are put back in feature order (bottom MLP, table 0, 1, ...: the reference's
``--bottom_features_ordered``) so the interaction, and so the weights, are those of one process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from dlrmbench.distributed.exchange import bottom_to_top
from dlrmbench.distributed.placement import Placement, RankSlices
from dlrmbench.batch import Ids, ids_batch_size, ids_num_features
from dlrmbench.model.embeddings import EmbeddingBase as EmbeddingStrategy
from dlrmbench.workload.build import build_embeddings, build_model

REPLICATE_LIMIT_BYTES = 2 * 2**30


class TopModel(nn.Module):
    """Interaction + top MLP + output layer over ``(b, 1 + F, D)`` vectors in feature order."""

    def __init__(self, interaction: nn.Module, top_mlp: nn.Module, out: nn.Linear) -> None:
        super().__init__()
        self.interaction, self.top_mlp, self.out = interaction, top_mlp, out

    def forward(self, vectors: torch.Tensor) -> torch.Tensor:
        features = self.interaction(vectors[:, 0], vectors[:, 1:])
        return self.out(self.top_mlp(features)).squeeze(1)


class DistributedDlrm(nn.Module):
    """One rank's part of a hybrid-parallel DLRM; ``forward(numerical, categorical) -> (b_rank,)``."""

    def __init__(self, bottom_mlp: nn.Module | None, embeddings: EmbeddingStrategy | None, top: nn.Module,
                 placement: Placement, batch_sizes: list[int], rank: int, dim: int, group: Any = None) -> None:
        super().__init__()
        self.bottom_mlp = bottom_mlp
        self.embeddings = embeddings
        self.top = top
        self.placement, self.batch_sizes, self.rank, self.dim, self.group = placement, batch_sizes, rank, dim, group
        self.local_features = list(placement.tables[rank])
        order = placement.vector_order()  # -1 = bottom MLP, f = table f, in exchange order
        position = {slot: i for i, slot in enumerate(order)}
        self.register_buffer("feature_order", torch.tensor([position[s] for s in [-1, *sorted(s for s in order if s >= 0)]],
                                                           dtype=torch.int64), persistent=False)
        self.vectors = [placement.vectors(r) for r in range(placement.world_size)]
        self.slices = RankSlices(placement.world_size, rank)

    def model_parallel_parameters(self) -> list[nn.Parameter]:
        """Bottom MLP and tables: no all-reduce; the exchange's backward gives them the global-mean gradient."""
        params: list[nn.Parameter] = []
        for part in (self.bottom_mlp, self.embeddings):
            if part is not None:
                params += [p for p in part.parameters() if p.requires_grad]
        return params

    def data_parallel_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.top.parameters() if p.requires_grad]

    def forward(self, numerical: torch.Tensor, categorical: Ids) -> torch.Tensor:
        """``numerical``: every row's dense features on the bottom MLP's rank (``(B, 0)`` elsewhere);
        ``categorical``: every row's ids of this rank's tables, in ``local_features`` order."""
        rows = ids_batch_size(categorical)
        if rows != numerical.shape[0]:
            raise ValueError(f"rank {self.rank}: a batch of {numerical.shape[0]} numerical rows and {rows} id rows")
        if ids_num_features(categorical) != len(self.local_features):
            raise ValueError(f"rank {self.rank}: ids of {ids_num_features(categorical)} features; it holds the "
                             f"tables {self.local_features} (give it its share: BatchShare.columns)")
        parts = []
        if self.bottom_mlp is not None:
            parts.append(self.bottom_mlp(numerical).float().unsqueeze(1))
        if self.embeddings is not None:  # multi-hot ids are pooled here: pooled vectors are exchanged
            parts.append(self.embeddings(categorical).float())
        if parts:
            local = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
        else:
            # a rank without tables still takes part in the backward exchange: its empty input must need grad
            local = numerical.new_zeros(rows, 0, self.dim, dtype=torch.float32)
            local.requires_grad_(torch.is_grad_enabled())
        exchanged = bottom_to_top(local, self.slices.sizes(rows), self.vectors, self.rank, self.group)
        return self.top(exchanged.index_select(1, self.feature_order))


def table_weights(strategy: nn.Module, feature: int, rows: int, chunk: int = 65536) -> torch.Tensor:
    """Table ``feature`` of any embedding strategy, read through its forward (rows x dim)."""
    out = []
    with torch.no_grad():
        for start in range(0, rows, chunk):
            ids = torch.zeros(min(chunk, rows - start), strategy.num_features, dtype=torch.int64,
                              device=strategy.sizes.device)
            ids[:, feature] = torch.arange(start, start + ids.shape[0], device=ids.device)
            out.append(strategy(ids)[:, feature].detach().clone())
    return torch.cat(out)


def load_tables(strategy: nn.Module, tables: list[torch.Tensor]) -> None:
    """Copy ``tables`` (in the strategy's feature order) into a joint- or per-table-layout strategy."""
    params = list(strategy.parameters())
    with torch.no_grad():
        if len(params) == 1 and params[0].shape[0] == sum(t.shape[0] for t in tables):
            params[0].copy_(torch.cat(tables))
        elif len(params) == len(tables) and all(p.shape == t.shape for p, t in zip(params, tables)):
            for p, t in zip(params, tables):
                p.copy_(t)
        else:
            raise ValueError(f"{type(strategy).__name__}: cannot copy replicated tables into its parameters; "
                             "set distributed.init: sharded")


@dataclass
class Parts:
    bottom_mlp: nn.Module | None
    embeddings: EmbeddingStrategy | None
    top: TopModel


def build_parts(resolved: Any, table_sizes: list[int], placement: Placement, rank: int) -> Parts:
    """This rank's modules on the CPU, initialised as ``distributed.init`` says."""
    case = resolved.case
    local = list(placement.tables[rank])
    mode = case.distributed.init
    if mode == "auto":
        total = sum(table_sizes) * case.model.embedding_dim * 4
        mode = "replicate" if total <= REPLICATE_LIMIT_BYTES else "sharded"
    if mode == "replicate":
        full = build_model(resolved, table_sizes)
        embeddings = None
        if local:
            embeddings = build_embeddings(resolved, [table_sizes[f] for f in local])
            load_tables(embeddings, [table_weights(full.embeddings, f, table_sizes[f]) for f in local])
    else:  # dense parts from the seed, tables from a generator of their own
        full = build_model(resolved, [1] * len(table_sizes))
        embeddings = None
        if local:
            embeddings = build_embeddings(resolved, [table_sizes[f] for f in local])
            embeddings.reset_parameters(generator=torch.Generator().manual_seed(case.seed * 1_000_003 + local[0]))
    for attr in ("bottom_mlp", "interaction", "top_mlp", "out"):
        if not hasattr(full, attr):
            raise ValueError(f"backend {case.backend.name} does not expose the model's {attr}; "
                             "hybrid-parallel runs need the eager model layout")
    bottom = full.bottom_mlp if rank == placement.bottom_mlp_rank else None
    return Parts(bottom, embeddings, TopModel(full.interaction, full.top_mlp, full.out))


def gather_tables(model: DistributedDlrm, table_sizes: list[int]) -> list[torch.Tensor]:
    """Every table in feature order, on every rank (for tests and small models: all tables are copied)."""
    import torch.distributed as dist

    mine = {}
    if model.embeddings is not None:
        for i, f in enumerate(model.local_features):
            mine[f] = table_weights(model.embeddings, i, table_sizes[f]).cpu()
    everyone: list[dict[int, torch.Tensor]] = [{} for _ in range(model.placement.world_size)]
    if model.placement.world_size > 1:
        dist.all_gather_object(everyone, mine, group=model.group)
    else:
        everyone = [mine]
    merged = {f: t for part in everyone for f, t in part.items()}
    return [merged[f] for f in range(len(table_sizes))]
