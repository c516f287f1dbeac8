"""DLRM assembled from parts the plugins provide: backend, embedding strategy, interaction (facts sheet 1.1).

``forward(numerical (B, 13) float, categorical ids) -> logits (B,)``; ids are ``(B, F)`` int64 or
:class:`~dlrmbench.batch.SparseFeatures` (several ids per feature).
"""

from __future__ import annotations

import torch
from torch import nn

from dlrmbench.batch import Ids
from dlrmbench.model.embeddings import EmbeddingBase
from dlrmbench.plugin_api import DenseBackend

Backend = DenseBackend  # the contract lives in dlrmbench.plugin_api


class Dlrm(nn.Module):
    """Bottom MLP + embeddings -> interaction -> top MLP -> ``out`` (no activation: logits).

    Args:
        bottom_mlp: ``(B, num_numerical) -> (B, D)``, ReLU after every layer.
        embeddings: ``(B, F) -> (B, F, D)``.
        interaction: ``(B, D), (B, F, D) -> (B, W)`` with attribute ``out_features``.
        top_mlp: ``(B, W) -> (B, top[-2])``, ReLU after every layer; ``None`` when top is just ``[1]``.
        out: ``nn.Linear(top[-2] or W, 1)`` with PyTorch's default init, as in the reference.
    """

    def __init__(
        self,
        bottom_mlp: nn.Module,
        embeddings: EmbeddingBase,
        interaction: nn.Module,
        top_mlp: nn.Module | None,
        out: nn.Linear,
        seed: int = 0,
        mlp_init: str = "nvidia",
    ) -> None:
        super().__init__()
        self.seed, self.mlp_init = seed, mlp_init  # the initialisation's recipe (reset_parameters)
        self.bottom_mlp = bottom_mlp
        self.embeddings = embeddings
        self.interaction = interaction
        self.top_mlp = top_mlp if top_mlp is not None else nn.Identity()
        self.out = out

    def dense_parameters(self) -> list[nn.Parameter]:
        return [p for name, p in self.named_parameters() if not name.startswith("embeddings.")]

    def reset_parameters(self) -> None:
        """Draw every initial weight again from the model's seed, in :func:`build_dlrm`'s order (the
        ``torchrec_dmp`` topology does once DMP has allocated this rank's shards of the tables)."""
        _initialise(self, torch.Generator().manual_seed(self.seed), self.mlp_init)

    def forward(self, numerical: torch.Tensor, categorical: Ids) -> torch.Tensor:
        bottom = self.bottom_mlp(numerical)
        return self.top(bottom, self.embeddings(categorical))

    def top(self, bottom: torch.Tensor, embedded: torch.Tensor) -> torch.Tensor:
        """The interaction and the top MLP over the bottom MLP's ``(B, D)`` output and the ``(B, F, D)``
        embedded features: the logits (TorchRec's train pipeline looks the tables up itself, then calls this)."""
        features = self.interaction(bottom, embedded)
        return self.out(self.top_mlp(features)).squeeze(1)


def first_top_linear(model: Dlrm) -> nn.Linear:
    """The layer whose last input column multiplies the dot interaction's zero padding."""
    for module in model.top_mlp.modules():
        if isinstance(module, nn.Linear):
            return module
    return model.out


def build_dlrm(
    backend: DenseBackend,
    embeddings: EmbeddingBase,
    *,
    num_numerical: int,
    bottom_sizes: list[int],
    top_sizes: list[int],
    interaction: "str | nn.Module",
    seed: int,
    mlp_init: str = "nvidia",
) -> nn.Module:
    """Assemble and initialise a DLRM reproducibly from ``seed`` (facts sheet 1.3).

    ``interaction`` is a built module (from the interaction plugin, or the backend's accelerated
    one), or ``"dot"``/``"cat"`` for the plain PyTorch ones (tests and benchmarks).
    Parameters are drawn in a fixed order (bottom MLP, embeddings, top MLP, out) from one
    generator, so every backend and strategy starts from the same weights for the same seed.
    ``mlp_init`` (``model.mlp_init``): the bottom and top MLPs' rule, ``nvidia`` or ``torch``.
    """
    generator = torch.Generator().manual_seed(seed)
    bottom = backend.mlp(num_numerical, bottom_sizes)
    if isinstance(interaction, str):
        from dlrmbench.model.interactions import make_interaction

        interaction = make_interaction(interaction, 1 + embeddings.num_features, embeddings.dim)
    inter = interaction
    width = inter.out_features
    top = backend.mlp(width, top_sizes[:-1]) if len(top_sizes) > 1 else None
    out = nn.Linear(top_sizes[-2] if len(top_sizes) > 1 else width, 1)
    model = Dlrm(bottom, embeddings, inter, top, out, seed=seed, mlp_init=mlp_init)
    _initialise(model, generator, mlp_init)
    return backend.finalize(model)


def _initialise(model: Dlrm, generator: torch.Generator, mlp_init: str) -> None:
    from dlrmbench.model.mlp import init_mlp_

    init_mlp_(model.bottom_mlp, mlp_init, generator)
    model.embeddings.reset_parameters(generator=generator)
    reset = getattr(model.interaction, "reset_parameters", None)
    if callable(reset) and any(True for _ in model.interaction.parameters()):
        reset(generator=generator)  # an interaction with weights (a cross network) draws after the tables
    if not isinstance(model.top_mlp, nn.Identity):
        init_mlp_(model.top_mlp, mlp_init, generator)
    bound = 1.0 / model.out.in_features**0.5  # nn.Linear's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    with torch.no_grad():
        model.out.weight.uniform_(-bound, bound, generator=generator)
        model.out.bias.uniform_(-bound, bound, generator=generator)
        if getattr(model.interaction, "zero_padding_column", False):  # declared by the interaction (dot's pad)
            first_top_linear(model).weight[:, -1] = 0.0
