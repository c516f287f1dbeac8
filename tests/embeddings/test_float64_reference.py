"""Forward and one SGD step of the TorchRec and in-backward strategies against float64 arithmetic.

The reference is written here from the model's definition (MLPs, pairwise dots in row-major lower
triangle order, BCE, plain SGD on every parameter, duplicate ids summing), in float64, from the
same initial weights; the strategies run in float32 through ``dlrmbench.verify``'s training step.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dlrmbench.plugins import get_registry
from dlrmbench_plugins.families.dlrm_verify import Combination, VerifySettings, canonical_parameters, make_batches, make_case, run_combination
from dlrmbench.workload.build import build_model
from dlrmbench.workload.build import resolve

STRATEGIES = ["multi_table", "torchrec", "torchrec_fused", "joint_sgd_in_backward"]
SETTINGS = VerifySettings(steps=1, batch_size=32, table_sizes=(3, 13, 5, 2), lr=0.7)  # small tables: repeated ids


def linears(module: nn.Module) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(m.weight.detach().double().clone().requires_grad_(), m.bias.detach().double().clone().requires_grad_())
            for m in module.modules() if isinstance(m, nn.Linear)]


def mlp(x: torch.Tensor, layers: list[tuple[torch.Tensor, torch.Tensor]], relu_last: bool) -> torch.Tensor:
    for i, (w, b) in enumerate(layers):
        x = x @ w.t() + b
        if relu_last or i < len(layers) - 1:
            x = torch.relu(x)
    return x


def float64_step(model: nn.Module, batch: tuple, lr: float) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Logits before the step and every parameter after one SGD step, in float64."""
    numerical, categorical, label = batch
    bottom, top = linears(model.bottom_mlp), linears(model.top_mlp) + linears(model.out)
    table = canonical_parameters(model)["embeddings"].double().requires_grad_()
    offsets = torch.tensor([0, *SETTINGS.table_sizes[:-1]]).cumsum(0)
    x = mlp(numerical.double(), bottom, relu_last=True)
    vectors = [x] + [table[categorical[:, f] + offsets[f]] for f in range(categorical.shape[1])]
    pairs = [(vectors[i] * vectors[j]).sum(1, keepdim=True) for i in range(len(vectors)) for j in range(i)]
    features = torch.cat([x, *pairs, torch.zeros(x.shape[0], 1, dtype=torch.float64)], dim=1)
    logits = mlp(features, top, relu_last=False).squeeze(1)
    loss = nn.functional.binary_cross_entropy_with_logits(logits, label.double())
    dense = [t for pair in bottom + top for t in pair]
    grads = torch.autograd.grad(loss, dense + [table])
    after = [(p - lr * g).detach() for p, g in zip(dense + [table], grads)]
    names = [f"bottom_mlp.{i}" for i in range(2 * len(bottom))] + \
            [f"top_mlp.{i}" for i in range(2 * (len(top) - 1))] + ["out.0", "out.1", "embeddings"]
    return logits.detach(), dict(zip(names, after))


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b).abs().max() / b.abs().max())


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_forward_and_one_sgd_step_match_float64(strategy: str) -> None:
    spec = get_registry().get("embedding", strategy)
    reason = spec.availability(__import__("dlrmbench.host", fromlist=["current_host"]).current_host())
    assert reason is None, f"{strategy} unavailable here: {reason} (make test installs the torchrec extra)"
    case = make_case(SETTINGS, Combination("eager", strategy, "dot"), {})
    batch = make_batches(SETTINGS)[0]
    assert len(set(batch[1][:, 0].tolist())) < SETTINGS.batch_size  # duplicates exercise the summed update
    expected_logits, expected = float64_step(build_model(resolve(case), list(SETTINGS.table_sizes)), batch, SETTINGS.lr)
    trace = run_combination(case, [batch], SETTINGS.lr)
    assert relative(trace.outputs[0], expected_logits) < 1e-5
    assert set(trace.parameters) == set(expected)
    for name, value in expected.items():
        assert relative(trace.parameters[name], value) < 1e-5, name
