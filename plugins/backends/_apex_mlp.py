"""Implementation of the ``apex_mlp`` backend (imports torch and NVIDIA apex).

The MLP's parameters live in ordinary ``nn.Linear`` modules (so initialisation, the zeroed padding
column of the first top layer, state dicts and parameter order are exactly TorchMlp's) and the
forward and backward run apex's fused ``mlp_cuda`` kernels through ``apex.mlp.mlp.MlpFunction``.
apex's own ``MLP.reset_parameters`` uses the same rule (facts sheet 1.3) but draws all weights
before all biases; drawing in TorchMlp's order keeps every backend on the same initial weights.
"""

from __future__ import annotations

import torch
from torch import nn

from dlrmbench.plugin_api import BuildContext
from dlrmbench.model.mlp import init_linear_
from dlrmbench_plugins.backends.apex_mlp import ApexOptions

APEX_BIAS = 1  # apex.mlp.MLP: bias=True -> 1
APEX_RELU = 1  # apex.mlp.MLP: activation="relu" -> 1 (ReLU after every layer, the last included)


class ApexMlp(nn.Module):
    """``(B, in_features) -> (B, sizes[-1])``, ReLU after every layer, run by apex's fused kernels."""

    def __init__(self, in_features: int, sizes: list[int]) -> None:
        super().__init__()
        from apex.mlp.mlp import MlpFunction  # noqa: F401  (fail at build time, not at the first step)

        widths = [in_features, *sizes]
        self.layers = nn.ModuleList(nn.Linear(widths[i], widths[i + 1]) for i in range(len(sizes)))
        self.reset_parameters()

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        for layer in self.layers:
            init_linear_(layer, generator)

    def linears(self) -> list[nn.Linear]:
        return list(self.layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from apex.mlp.mlp import MlpFunction

        weights = [layer.weight for layer in self.layers]
        biases = [layer.bias for layer in self.layers]
        device = x.device.type
        if torch.is_autocast_enabled(device):  # mlp_cuda wants one dtype for input and parameters
            dtype = torch.get_autocast_dtype(device)
            x, weights, biases = x.to(dtype), [w.to(dtype) for w in weights], [b.to(dtype) for b in biases]
        with torch.autocast(device_type=device, enabled=False):
            return MlpFunction.apply(APEX_BIAS, APEX_RELU, x, *weights, *biases)


class ApexMlpBackend:
    """apex's fused MLPs with the plain PyTorch interactions (the reference's 2020 GPU default MLP)."""

    def __init__(self, options: ApexOptions | None = None) -> None:
        self.options = options or ApexOptions()

    def mlp(self, in_features: int, sizes: list[int]) -> nn.Module:
        return ApexMlp(in_features, sizes)

    def interaction(self, ctx: BuildContext) -> nn.Module | None:
        return None  # the interaction plugin's module

    def finalize(self, model: nn.Module) -> nn.Module:
        return model


def build(ctx: BuildContext) -> ApexMlpBackend:
    return ApexMlpBackend(ctx.options)
