"""``optimizer.name: adagrad`` in the training loop: the same weights as torch.optim.Adagrad over a dense copy."""

from __future__ import annotations

import copy

import pytest
import torch
from pydantic import ValidationError

from dlrmbench.workload.reporter import Reporter
from dlrmbench.workload.train import train
from tests.workload.helpers import ListDataset, TABLES, random_batch, tiny_case, workload


def test_two_loop_steps_equal_torch_adagrad_on_a_dense_copy() -> None:
    case = tiny_case(optimizer={"name": "adagrad", "lr": 0.05}, max_steps=2)
    assert (case.optimizer.warmup_steps, case.optimizer.decay_steps) == (0, 0)
    batches = [random_batch(8, 3, TABLES, seed) for seed in (1, 2)]
    work = workload(case, ListDataset(batches, batches[:1], TABLES))
    reference = copy.deepcopy(work.model)
    for module in reference.modules():  # the same model with dense gradients everywhere
        if isinstance(module, torch.nn.Embedding):
            module.sparse = False
    expected = torch.optim.Adagrad(reference.parameters(), lr=0.05, eps=1e-8)
    for batch in batches:
        expected.zero_grad()
        torch.nn.BCEWithLogitsLoss()(reference(batch.numerical, batch.categorical), batch.label).backward()
        for p in reference.parameters():  # the sparse path sees joint-table gradients as dense here
            if p.grad is not None and p.grad.is_sparse:
                p.grad = p.grad.to_dense()
        expected.step()
    train(work, Reporter(stream=None))
    for (name, ours), theirs in zip(work.model.named_parameters(), reference.parameters()):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6, msg=name)


def test_adagrad_is_skipped_where_it_does_not_run() -> None:
    from dlrmbench_plugins.optimizers.adagrad import AdagradOptions, _check

    multi = tiny_case(optimizer={"name": "adagrad", "lr": 0.05}, processes=2)
    assert _check(None, multi, AdagradOptions()) is None  # hybrid parallel runs Adagrad (tests/distributed)
    amp = tiny_case(optimizer={"name": "adagrad", "lr": 0.05}, precision="amp", device="cuda")
    assert "precision amp" in _check(None, amp, AdagradOptions())
    assert _check(None, tiny_case(optimizer={"name": "adagrad", "lr": 0.05}), AdagradOptions()) is None
