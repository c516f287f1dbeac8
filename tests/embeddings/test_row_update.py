"""The fused row update of the in-backward strategies (``row_update: fused``) against the path before it
(``scatter``: a COO add for SGD, per-id rows + ``torch.unique`` for Adagrad) and against a float64 dense
computation written here, on ids with many duplicates; low-precision tables and stochastic rounding."""

from __future__ import annotations

import pytest
import torch

from dlrmbench.batch import SparseFeatures
from dlrmbench.model.adagrad import ADAGRAD_EPS
from dlrmbench_plugins.embeddings._in_backward import JointAdagradInBackward, JointSgdInBackward
from dlrmbench_plugins.embeddings._row_update import StochasticRounding, sgd_rows_
from dlrmbench_plugins.embeddings.in_backward import InBackwardOptions

SIZES = [5, 3, 40]  # small tables: every batch repeats rows many times
DIM, BATCH, LR = 8, 64, 0.05


def _strategy(optimizer: str, **options: str) -> JointSgdInBackward:
    cls = JointAdagradInBackward if optimizer == "adagrad" else JointSgdInBackward
    table = cls(SIZES, DIM, options=InBackwardOptions(**options))
    table.reset_parameters(torch.Generator().manual_seed(0))
    table.set_learning_rate(LR)
    return table


def _ids(generator: torch.Generator, multi_hot: bool) -> torch.Tensor | SparseFeatures:
    if multi_hot:
        return SparseFeatures.from_fixed([torch.randint(0, rows, (BATCH, hot), generator=generator)
                                          for rows, hot in zip(SIZES, (4, 1, 7))])
    return torch.stack([torch.randint(0, rows, (BATCH,), generator=generator) for rows in SIZES], dim=1)


def _train(table: JointSgdInBackward, steps: int, multi_hot: bool) -> list[torch.Tensor]:
    """``steps`` backward passes of a fixed random linear loss; the ids of each step (for the reference)."""
    generator = torch.Generator().manual_seed(1)
    seen = []
    for _ in range(steps):
        ids = _ids(generator, multi_hot)
        out = table(ids)
        (out.float() * torch.randn(out.shape, generator=generator)).sum().backward()
        seen.append(ids)
    return seen


def _dense_reference(optimizer: str, steps: int, multi_hot: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The same training in float64 with the table's full dense gradient (autograd through an index)."""
    start = _strategy(optimizer)
    weight = start.weight.detach().double().clone()
    state = torch.zeros_like(weight)
    generator = torch.Generator().manual_seed(1)
    offsets = start.offsets
    for _ in range(steps):
        ids = _ids(generator, multi_hot)
        leaf = weight.clone().requires_grad_(True)
        if multi_hot:
            rows = ids.values + offsets[ids.feature_of_values()]
            bag = torch.arange(ids.num_features * BATCH).repeat_interleave(ids.bag_offsets().diff())
            pooled = torch.zeros(ids.num_features * BATCH, DIM, dtype=torch.float64).index_add(0, bag, leaf[rows])
            out = pooled.view(ids.num_features, BATCH, DIM).transpose(0, 1)
        else:
            out = leaf[ids + offsets]
        (out * torch.randn(out.shape, generator=generator).double()).sum().backward()
        grad = leaf.grad
        if optimizer == "adagrad":
            state += grad * grad
            weight -= LR * grad / (state.sqrt() + ADAGRAD_EPS)
        else:
            weight -= LR * grad
    return weight, state


@pytest.mark.parametrize("optimizer", ["sgd", "adagrad"])
@pytest.mark.parametrize("multi_hot", [False, True], ids=["one-hot", "multi-hot"])
def test_fused_update_equals_the_scatter_path_and_a_dense_float64_computation(optimizer, multi_hot):
    fused, scatter = _strategy(optimizer, row_update="fused"), _strategy(optimizer, row_update="scatter")
    ids = _train(fused, 3, multi_hot)
    _train(scatter, 3, multi_hot)
    flat = ids[0].values if multi_hot else ids[0].reshape(-1)
    assert flat.numel() > 4 * flat.unique().numel()  # many duplicates within each feature
    reference, state = _dense_reference(optimizer, 3, multi_hot)
    assert torch.allclose(fused.weight.double(), reference, rtol=1e-5, atol=1e-6)
    assert torch.allclose(fused.weight, scatter.weight, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(fused.weight.double(), _strategy(optimizer).weight.double(), atol=1e-3)  # it moved
    if optimizer == "adagrad":
        assert torch.allclose(fused.state_sum.double(), state, rtol=1e-5, atol=1e-6)
        assert torch.allclose(fused.state_sum, scatter.state_sum, rtol=1e-5, atol=1e-6)


def test_multi_hot_backward_never_expands_bag_gradients_to_one_row_per_id(monkeypatch):
    """The fused path reads the bags' gradient through the ids' bag numbers: no tensor of N x D values."""
    table = _strategy("adagrad")
    ids = _ids(torch.Generator().manual_seed(2), multi_hot=True)
    n = ids.values.numel()
    made = []
    original = torch.Tensor.index_select

    def record(self, dim, index):
        out = original(self, dim, index)
        made.append(tuple(out.shape))
        return out

    monkeypatch.setattr(torch.Tensor, "index_select", record)
    table(ids).sum().backward()
    assert (n, DIM) not in made and made  # index_select ran (ids, accumulator rows), never per id and column


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_stochastic_rounding_is_unbiased_and_picks_a_neighbour(dtype):
    rounder = StochasticRounding(dtype, seed=3, pool_size=1 << 16)
    base = torch.linspace(0.01, 3.0, 257, dtype=torch.float32).to(dtype)  # representable values
    up = _next_up(base)
    fraction = torch.rand(base.shape, generator=torch.Generator().manual_seed(4))
    exact = base.float() + fraction * (up.float() - base.float())
    draws = torch.stack([rounder(exact.clone()) for _ in range(2000)])
    assert bool(((draws == base) | (draws == up)).all())
    went_up = (draws == up).double().mean(0)
    # 2000 draws: the share that rounds up is within 5 standard deviations of the exact fraction
    assert torch.all((went_up - fraction.double()).abs() <= 5 * (fraction * (1 - fraction) / 2000).sqrt() + 1e-3)
    mean_error = (draws.double().mean(0) - exact.double()) / (up.double() - base.double())
    assert mean_error.abs().mean() < 0.01  # unbiased: the mean lands on the exact value (in units of a step)
    nearest = exact.to(dtype).double()
    assert ((nearest - exact.double()) / (up.double() - base.double())).abs().mean() > 0.2  # nearest is not


def _next_up(values: torch.Tensor) -> torch.Tensor:
    """The next representable value above positive ``values`` of a 16-bit float dtype (its bit pattern + 1)."""
    return (values.view(torch.int16) + 1).view(values.dtype)


def test_stochastic_rounding_keeps_updates_smaller_than_half_a_step():
    """1000 updates of 1e-4 to 1.0 in bfloat16 (a step there is 2**-7): to nearest nothing moves; stochastic
    rounding lands near 1.1, as float32 does."""
    weights = {rounding: _strategy("sgd", table_dtype="bfloat16", rounding=rounding) for rounding in ("stochastic", "nearest")}
    for table in weights.values():
        table.weight.data.fill_(1.0)
        rows = torch.arange(table.weight.shape[0])
        for _ in range(1000):
            sgd_rows_(table.weight.data, rows, torch.full((rows.numel(), DIM), -1e-4), 1.0, table.rounder)
    assert torch.equal(weights["nearest"].weight, torch.ones_like(weights["nearest"].weight))
    assert abs(weights["stochastic"].weight.float().mean().item() - 1.1) < 0.01


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_a_low_precision_table_looks_up_in_the_compute_dtype_and_trains_like_float32(dtype):
    table = _strategy("adagrad", table_dtype=dtype)
    assert table.weight.dtype == getattr(torch, dtype) and table.state_sum.dtype == torch.float32
    ids = _ids(torch.Generator().manual_seed(5), multi_hot=False)
    assert table(ids).dtype == torch.float32  # float32 compute: the lookups come out in float32
    with torch.autocast("cpu", dtype=getattr(torch, dtype)):
        assert table(ids).dtype == getattr(torch, dtype)  # the table's own dtype: no cast
    fp32, low = _strategy("adagrad"), _strategy("adagrad", table_dtype=dtype)
    assert torch.allclose(low.weight.float(), fp32.weight, rtol=1e-2, atol=0)  # the same start, rounded
    losses = {}
    for name, table in (("fp32", fp32), ("low", low)):
        generator = torch.Generator().manual_seed(6)
        target = torch.randn(len(SIZES), DIM, generator=generator)
        history = []
        for _ in range(60):
            out = table(_ids(generator, multi_hot=False))
            loss = ((out.float() - target) ** 2).mean()
            loss.backward()
            history.append(loss.item())
        losses[name] = history
    assert losses["fp32"][-1] < 0.5 * losses["fp32"][0]  # it learns
    assert abs(losses["low"][-1] - losses["fp32"][-1]) < 0.02 * losses["fp32"][0]


def test_auto_scatters_only_one_hot_sgd_on_a_float32_table():
    def scatters(optimizer: str, multi_hot: bool, **options: str) -> bool:
        table = _strategy(optimizer, **options)
        return table.auto_scatter(table.weight, torch.zeros(1) if multi_hot else None)

    assert scatters("sgd", False)
    assert not scatters("sgd", True) and not scatters("sgd", False, table_dtype="bfloat16")
    assert not scatters("adagrad", False) and not scatters("adagrad", True)


def test_scatter_with_a_low_precision_table_is_refused_naming_the_fix():
    with pytest.raises(ValueError, match="table_dtype 'bfloat16' needs row_update: fused"):
        InBackwardOptions(row_update="scatter", table_dtype="bfloat16")


def test_a_bfloat16_table_trains_through_the_training_loop_like_float32():
    """The harness's own step (optimizer plugin for the dense parts, the strategy's Adagrad in backward) on a
    DLRMv2 model with multi-hot ids: a bfloat16 table with stochastic rounding stays close to float32."""
    from dlrmbench_plugins.families.dlrm_verify import (
        Combination, VerifySettings, make_batches, make_case, relative_difference, run_combination,
    )

    settings = VerifySettings(steps=4)
    batches = make_batches(settings, multi_hot=True)
    combo = Combination("eager", "joint_adagrad_in_backward", "dcnv2")
    fp32 = run_combination(make_case(settings, combo, {}), batches, settings.adagrad_lr)
    bf16 = run_combination(make_case(settings, combo, {combo.embedding: {"table_dtype": "bfloat16"}}), batches,
                           settings.adagrad_lr)
    assert relative_difference(bf16.losses, fp32.losses) < 1e-2
    # an Adagrad step moves an element by at most lr, so two runs part by at most 2 lr a step (a near-zero
    # gradient's sign can differ: Adagrad's first step is lr * sign(g)) plus bfloat16's rounding
    diff = (bf16.parameters["embeddings"] - fp32.parameters["embeddings"]).abs()
    scale = float(fp32.parameters["embeddings"].abs().max())
    assert float(diff.max()) <= 2 * settings.adagrad_lr * settings.steps + 2 ** -7 * scale
    assert 0 < float(diff.mean()) < 0.5 * settings.adagrad_lr  # measured: 0.25 lr
