"""The model as it is served: plain-PyTorch modules with fixed inputs, whatever trained it.

A served DLRM is two parts, as NVIDIA's deployments split it: the *sparse* part (categorical ids ->
embedding vectors; all tables in one gather) and the *dense* part (bottom MLP, interaction, top MLP
-> one logit per sample). :func:`serving_parts` is the only code that knows the training model's
layout (``dlrmbench.model.dlrm.Dlrm``); when the model's forward signature changes, port that one
function. Everything downstream (ONNX, TorchScript, Triton, the checks) sees only these modules:

- ``SparseLookup``: ``categorical (B, H) int64 -> embedded (B, F, D) float32``
- ``DenseTower``:   ``numerical (B, N) float32, embedded (B, F, D) float32 -> logit (B, 1) float32``
- ``ServingDlrm``:  ``numerical, categorical -> logit`` (both in one graph)

``categorical`` holds, per sample, each feature's ids one after the other: feature ``f`` fills
``hotness[f]`` columns, ``H = sum(hotness)`` (fixed hotness, as MLPerf DLRMv2's multi-hot data). One-hot
is the special case ``hotness = [1] * F``: ``H = F`` and column ``f`` is feature ``f``'s id. Sample-major
with a leading batch axis, so Triton's dynamic batching can merge requests; a feature's ids are pooled
by sum, as the training strategies pool a bag.

The dense part uses the stock PyTorch MLP and interaction modules of the same weights, so a model
trained with a fused backend (Triton kernels) exports as the same math in portable operators.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

#: Names of the served tensors, used by every exporter and by the Triton configuration.
NUMERICAL, CATEGORICAL, EMBEDDED, LOGIT = "numerical", "categorical", "embedded", "logit"


def column_features(hotness: list[int]) -> list[int]:
    """The feature of each ``categorical`` column: feature ``f`` repeated ``hotness[f]`` times."""
    return [f for f, h in enumerate(hotness) for _ in range(h)]


class SparseLookup(nn.Module):
    """All embedding tables as one joint table with per-column offsets; one gather, then (multi-hot) a
    sum over each feature's columns.

    ``hash_indices`` folds ids into range (``id mod rows``) as the training model does; otherwise
    ids must lie inside their tables (onnxruntime and TorchScript refuse an out-of-range gather).
    """

    def __init__(self, tables: list[torch.Tensor], hash_indices: bool, hotness: list[int] | None = None) -> None:
        super().__init__()
        sizes = [int(t.shape[0]) for t in tables]
        self.hotness = [1] * len(sizes) if hotness is None else [int(h) for h in hotness]
        if len(self.hotness) != len(sizes) or min(self.hotness) < 1:
            raise ValueError(f"hotness {self.hotness} must give at least one id for each of the {len(sizes)} tables")
        offsets = [0]
        for rows in sizes[:-1]:
            offsets.append(offsets[-1] + rows)
        columns = column_features(self.hotness)
        self.weight = nn.Parameter(torch.cat([t.detach().float() for t in tables]), requires_grad=False)
        self.register_buffer("offsets", torch.tensor([offsets[f] for f in columns], dtype=torch.int64))
        self.register_buffer("sizes", torch.tensor([sizes[f] for f in columns], dtype=torch.int64))
        self.hash_indices = hash_indices
        starts = [sum(self.hotness[:f]) for f in range(len(sizes))]
        self.spans = [(a, a + h) for a, h in zip(starts, self.hotness)]
        self.one_hot = all(h == 1 for h in self.hotness)

    def forward(self, categorical: torch.Tensor) -> torch.Tensor:
        ids = torch.remainder(categorical, self.sizes) if self.hash_indices else categorical
        looked_up = nn.functional.embedding(ids + self.offsets, self.weight)  # (B, H, D)
        if self.one_hot:
            return looked_up
        return torch.stack([looked_up[:, a:b].sum(1) for a, b in self.spans], dim=1)  # (B, F, D)


class DenseTower(nn.Module):
    """Bottom MLP, interaction, top MLP and output layer: ``(B, 1)`` logits."""

    def __init__(self, bottom_mlp: nn.Module, interaction: nn.Module, top_mlp: nn.Module, out: nn.Linear) -> None:
        super().__init__()
        self.bottom_mlp, self.interaction, self.top_mlp, self.out = bottom_mlp, interaction, top_mlp, out

    def forward(self, numerical: torch.Tensor, embedded: torch.Tensor) -> torch.Tensor:
        bottom = self.bottom_mlp(numerical)
        return self.out(self.top_mlp(self.interaction(bottom, embedded)))


class ServingDlrm(nn.Module):
    """Sparse and dense parts in one module: ``numerical, categorical -> logit (B, 1)`` (fp32's parts, or a
    serving precision's: quantised tables and MLPs)."""

    def __init__(self, sparse: nn.Module, dense: nn.Module) -> None:
        super().__init__()
        self.sparse, self.dense = sparse, dense

    def forward(self, numerical: torch.Tensor, categorical: torch.Tensor) -> torch.Tensor:
        return self.dense(numerical, self.sparse(categorical))


@dataclass
class ServingParts:
    """What is exported, and the shape facts the Triton configuration needs."""

    sparse: SparseLookup
    dense: DenseTower
    num_numerical: int
    num_features: int
    dim: int
    table_sizes: list[int]

    @property
    def hotness(self) -> list[int]:
        return list(self.sparse.hotness)

    @property
    def num_ids(self) -> int:
        """Columns of the ``categorical`` input: ``sum(hotness)``."""
        return sum(self.sparse.hotness)

    @property
    def table_bytes(self) -> int:
        return int(self.sparse.weight.numel()) * 4

    def whole(self) -> ServingDlrm:
        return ServingDlrm(self.sparse, self.dense).eval()


def table_weights(embeddings: nn.Module, table_sizes: list[int], chunk: int = 65536) -> list[torch.Tensor]:
    """Each feature's table as a ``(rows, D)`` float32 tensor, read through the strategy's forward.

    Asking the strategy for ids ``0..rows-1`` of every feature works for any strategy (one table per
    feature, a joint table, fused kernels) without knowing how it stores its weights: chunk ``c``
    looks up id ``min(r, rows_f - 1)`` of every feature ``f`` for ``r`` in the chunk. The cost is
    ``max(rows) x F`` lookups, the size of the tables when they are of similar size.
    """
    largest = max(table_sizes)
    sizes = torch.tensor(table_sizes, dtype=torch.int64)
    parts: list[list[torch.Tensor]] = [[] for _ in table_sizes]
    device = next(embeddings.parameters()).device
    with torch.no_grad():
        for start in range(0, largest, chunk):
            rows = torch.arange(start, min(start + chunk, largest), dtype=torch.int64)
            ids = torch.minimum(rows.unsqueeze(1), sizes - 1)  # (C, F), every id inside its table
            vectors = embeddings(ids.to(device)).float().cpu()  # (C, F, D)
            for f, n in enumerate(table_sizes):
                if start < n:
                    parts[f].append(vectors[: n - start, f])
    return [torch.cat(p) for p in parts]


def serving_parts(model: nn.Module, interaction: str | None = None, hotness: list[int] | None = None
                  ) -> ServingParts:
    """Split a trained ``Dlrm`` into its served sparse and dense parts (weights copied, CPU, eval).

    The one adapter between the training model and serving: it reads ``model.embeddings``
    (``table_sizes``, ``dim``, ``hash_indices``, ids ``(B, F)`` -> ``(B, F, D)``), ``bottom_mlp``,
    ``interaction`` (``out_features``), ``top_mlp`` and ``out``. ``interaction`` is the case's
    interaction plugin name; without it ``dot`` or ``cat`` is told from the interaction's width.
    ``hotness``: ids per sample of each feature (multi-hot data), None for one id per feature.
    """
    from dlrmbench.model.interactions import interaction_width, make_interaction

    model = model.eval()
    embeddings = model.embeddings
    sizes = [int(s) for s in embeddings.table_sizes]
    dim = int(embeddings.dim)
    tables = table_weights(embeddings, sizes)
    num_vectors = 1 + len(sizes)
    width = int(model.interaction.out_features)
    if interaction is None:  # told from the width; refused when dot and cat would both fit
        kinds = [k for k in ("dot", "cat") if interaction_width(k, num_vectors, dim) == width]
        if len(kinds) != 1:
            raise ValueError(f"cannot tell the interaction of this model (width {width}, {num_vectors} vectors of "
                             f"{dim}); export it from its suite case")
        interaction = kinds[0]
    # dot and cat: the stock modules (same math, portable operators, whatever kernel trained them);
    # any other interaction plugin (it may hold weights): the trained module itself.
    inter = (make_interaction(interaction, num_vectors, dim) if interaction in ("dot", "cat")
             else copy.deepcopy(model.interaction).cpu().float().eval())
    bottom = copy.deepcopy(model.bottom_mlp).cpu().float().eval()
    top = copy.deepcopy(model.top_mlp).cpu().float().eval()
    out = copy.deepcopy(model.out).cpu().float().eval()
    first = next((m for m in bottom.modules() if isinstance(m, nn.Linear)), None)
    if first is None:
        raise ValueError("the bottom MLP has no nn.Linear layer: this backend's model cannot be exported")
    dense = DenseTower(bottom, inter, top, out).eval()
    for p in dense.parameters():
        p.requires_grad_(False)
    sparse = SparseLookup(tables, bool(getattr(embeddings, "hash_indices", False)), hotness).eval()
    return ServingParts(sparse=sparse, dense=dense, num_numerical=int(first.in_features),
                        num_features=len(sizes), dim=dim, table_sizes=sizes)


def training_ids(categorical: torch.Tensor, hotness: list[int] | None) -> object:
    """The served ``categorical`` (B, sum(hotness)) as the training model takes it: the same ``(B, F)``
    tensor when one-hot, else :class:`~dlrmbench.batch.SparseFeatures` of fixed hotness (feature-major)."""
    if hotness is None or all(h == 1 for h in hotness):
        return categorical
    from dlrmbench.batch import SparseFeatures

    starts = [sum(hotness[:f]) for f in range(len(hotness) + 1)]
    return SparseFeatures.from_fixed([categorical[:, a:b] for a, b in zip(starts[:-1], starts[1:])])


def eager_logits(model: nn.Module, numerical: torch.Tensor, categorical: torch.Tensor,
                 hotness: list[int] | None = None) -> torch.Tensor:
    """The training model's own forward as the reference the exports are checked against: ``(B, 1)``."""
    with torch.no_grad():
        return model.eval()(numerical, training_ids(categorical, hotness)).float().reshape(-1, 1)
