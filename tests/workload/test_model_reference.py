"""The model against an independent float64 computation of NVIDIA's documented formulas.

The reference here is written from the facts sheet (sections 1.1-1.5, 2.1) with plain tensor
ops in float64: bottom MLP with a ReLU after every layer, joint-table lookups at id + offset,
the strict lower triangle of the Gram matrix in row-major order after the bottom output plus
one zero, a ReLU top MLP, a plain output layer, mean BCE-with-logits, and one SGD step.
"""

from __future__ import annotations

import torch

from dlrmbench.workload.train import train
from .helpers import TABLES, ListDataset, random_batch, rel_err, tiny_case, workload


def _relu(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x > 0, x, torch.zeros_like(x))


def reference_logits(p: dict[str, torch.Tensor], numerical: torch.Tensor, categorical: torch.Tensor,
                     tables: list[int]) -> torch.Tensor:
    """Logits from float64 parameters ``p`` (names as in the model's state dict)."""
    x = numerical.double()
    x = _relu(x @ p["bottom_mlp.layers.0.weight"].T + p["bottom_mlp.layers.0.bias"])
    x = _relu(x @ p["bottom_mlp.layers.2.weight"].T + p["bottom_mlp.layers.2.bias"])
    offsets = [sum(tables[:f]) for f in range(len(tables))]
    vectors = [x] + [p["embeddings.weight"][categorical[:, f] + offsets[f]] for f in range(len(tables))]
    pairs = []
    for i in range(len(vectors)):  # (1,0), (2,0), (2,1), (3,0), ... : strict lower triangle, row-major
        for j in range(i):
            pairs.append((vectors[i] * vectors[j]).sum(dim=1, keepdim=True))
    t = torch.cat([x] + pairs + [torch.zeros(x.shape[0], 1, dtype=torch.float64)], dim=1)
    t = _relu(t @ p["top_mlp.layers.0.weight"].T + p["top_mlp.layers.0.bias"])
    t = _relu(t @ p["top_mlp.layers.2.weight"].T + p["top_mlp.layers.2.bias"])
    return (t @ p["out.weight"].T + p["out.bias"]).reshape(-1)


def reference_loss(logits: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy on logits: log(1 + e^z) - y z, written out."""
    y = label.double()
    return (torch.log1p(torch.exp(-logits.abs())) + torch.clamp(logits, min=0) - y * logits).mean()


def test_forward_matches_float64_reference() -> None:
    case = tiny_case()
    batch = random_batch(8, 3, TABLES, seed=11)
    work = workload(case, ListDataset([batch], [batch], TABLES))
    params = {k: v.detach().double() for k, v in work.model.state_dict().items()}
    with torch.no_grad():
        actual = work.model(batch.numerical, batch.categorical)
    expected = reference_logits(params, batch.numerical, batch.categorical, TABLES)
    assert actual.dtype == torch.float32 and actual.shape == (8,)
    assert rel_err(actual, expected) < 1e-6


def test_one_sgd_step_matches_float64_reference() -> None:
    """train() for one step at a constant lr = one plain SGD step, embeddings via sparse gradients."""
    case = tiny_case(max_steps=1)
    batch = random_batch(8, 3, TABLES, seed=12)
    work = workload(case, ListDataset([batch], [batch], TABLES))
    before = {k: v.detach().double().clone().requires_grad_(True) for k, v in work.model.state_dict().items()}
    loss = reference_loss(reference_logits(before, batch.numerical, batch.categorical, TABLES), batch.label)
    grads = dict(zip(before, torch.autograd.grad(loss, list(before.values()))))
    lr = case.optimizer.lr
    outcome = train(work, reporter_none())
    assert outcome.steps == 1
    assert abs(outcome.final_loss - loss.item()) <= 1e-6 * loss.item()
    after = work.model.state_dict()
    for name, value in before.items():
        expected = value.detach() - lr * grads[name]
        assert rel_err(after[name], expected) < 1e-6, name
        # the step itself, not only the unchanged bulk of the weights: the update agrees up to
        # float32 rounding of the weight it was added to
        delta = after[name].double() - value.detach()
        slack = 2 * torch.finfo(torch.float32).eps * value.detach().abs() + 1e-6 * (lr * grads[name]).abs()
        assert bool(((delta + lr * grads[name]).abs() <= slack + 1e-12).all()), name
    # the embedding table received a sparse gradient that touched only the looked-up rows
    grad = work.model.embeddings.weight.grad
    assert grad is not None and grad.is_sparse
    offsets = torch.tensor([0, 7, 12])
    touched = set((batch.categorical + offsets).reshape(-1).tolist())
    assert set(grad.coalesce().indices()[0].tolist()) == touched
    untouched = [r for r in range(sum(TABLES)) if r not in touched]
    assert torch.equal(after["embeddings.weight"][untouched], before["embeddings.weight"].detach()[untouched].float())


def reporter_none():  # noqa: ANN201
    from dlrmbench.workload.reporter import Reporter

    return Reporter(stream=None)
