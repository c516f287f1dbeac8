"""Plain PyTorch MLPs and the two MLP initialisations: NVIDIA's (facts sheet 1.2, 1.3) and PyTorch's
``nn.Linear`` default (the MLPerf DLRMv2 reference's TorchRec Perceptrons)."""

from __future__ import annotations

import math

import torch
from torch import nn


def init_linear_(layer: nn.Linear, generator: torch.Generator | None = None) -> None:
    """Normal init of the reference: W ~ N(0, 2/(fan_in+fan_out)), b ~ N(0, 1/fan_out)."""
    fan_out, fan_in = layer.weight.shape
    with torch.no_grad():
        layer.weight.normal_(0.0, math.sqrt(2.0 / (fan_in + fan_out)), generator=generator)
        if layer.bias is not None:
            layer.bias.normal_(0.0, math.sqrt(1.0 / fan_out), generator=generator)


def torch_default_init_(layer: nn.Linear, generator: torch.Generator | None = None) -> None:
    """``nn.Linear.reset_parameters``: weights (kaiming-uniform, a = sqrt(5)) and biases both
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)), weight first, with ``generator``."""
    bound = 1.0 / math.sqrt(layer.weight.shape[1])
    with torch.no_grad():
        layer.weight.uniform_(-bound, bound, generator=generator)
        if layer.bias is not None:
            layer.bias.uniform_(-bound, bound, generator=generator)


MLP_INITS = {"nvidia": init_linear_, "torch": torch_default_init_}  # model.mlp_init -> rule per layer


def init_mlp_(mlp: nn.Module, rule: str, generator: torch.Generator | None = None) -> None:
    """Initialise every ``nn.Linear`` of ``mlp`` (in order) with ``rule`` (``nvidia`` keeps the backend's own
    ``reset_parameters``, which draws NVIDIA's rule)."""
    if rule == "nvidia":
        mlp.reset_parameters(generator=generator)
        return
    layers = mlp.linears() if hasattr(mlp, "linears") else [m for m in mlp.modules() if isinstance(m, nn.Linear)]
    for layer in layers:
        MLP_INITS[rule](layer, generator)


class TorchMlp(nn.Module):
    """Linear layers with a ReLU after every layer (the reference's TorchMlp).

    Shapes: ``(B, in_features)`` in, ``(B, sizes[-1])`` out.
    """

    def __init__(self, in_features: int, sizes: list[int]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for width in sizes:
            layers += [nn.Linear(in_features, width), nn.ReLU(inplace=True)]
            in_features = width
        self.layers = nn.Sequential(*layers)
        self.reset_parameters()

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        for layer in self.linears():
            init_linear_(layer, generator)

    def linears(self) -> list[nn.Linear]:
        return [m for m in self.layers if isinstance(m, nn.Linear)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)
