"""Learning-rate values at the documented boundary steps of both policies (facts sheet 2.2)."""

from __future__ import annotations

import pytest

from dlrmbench.config.schema import OptimizerConfig
from dlrmbench.model.schedule import learning_rate, lr_factor


def test_single_gpu_2020_readme_check() -> None:
    """README sample line 'step 200 ... lr 0.8794' = 28 * 201 / 6400: 0-based step 200 is t = 201."""
    cfg = OptimizerConfig(lr_policy="single_gpu_2020")  # main.py defaults: 28, 6400, 64000, 80000
    assert learning_rate(201, 28.0, cfg) == pytest.approx(28 * 201 / 6400)
    assert round(learning_rate(201, 28.0, cfg), 4) == 0.8794


def test_single_gpu_2020_boundaries() -> None:
    cfg = OptimizerConfig(lr_policy="single_gpu_2020", decay_power=3.0, decay_end_lr=5.0)  # both ignored
    assert learning_rate(1, 28.0, cfg) == pytest.approx(28 / 6400)
    assert learning_rate(6400, 28.0, cfg) == 28.0  # end of warm-up
    assert learning_rate(6401, 28.0, cfg) == 28.0  # plateau until the decay starts
    assert learning_rate(64000, 28.0, cfg) == 28.0  # t = S: not yet decaying
    assert learning_rate(64001, 28.0, cfg) == pytest.approx(28 * ((80000 - 1) / 80000) ** 2)
    assert learning_rate(128028, 28.0, cfg) == pytest.approx(28 * ((144000 - 128028) / 80000) ** 2)  # ~1.12
    assert learning_rate(144000, 28.0, cfg) == 1e-7  # power 2 to zero, floored at 1e-7
    assert learning_rate(200000, 28.0, cfg) == 1e-7
    # the floor applies to the loss-scaled lr (amp: base lr 28/1024)
    assert learning_rate(144000, 28.0 / 1024, cfg) == 1e-7


def test_multi_gpu_boundaries() -> None:
    cfg = OptimizerConfig(lr=24.0, warmup_steps=8000, decay_start_step=48000, decay_steps=24000,
                          decay_power=2.0, decay_end_lr=0.0)  # dist_main.py defaults
    assert lr_factor(1, cfg) == pytest.approx(1 / 8000)
    assert learning_rate(8000, 24.0, cfg) == 24.0
    assert learning_rate(8001, 24.0, cfg) == 24.0
    assert learning_rate(48000, 24.0, cfg) == 24.0
    assert learning_rate(48001, 24.0, cfg) == pytest.approx(24 * ((24000 - 1) / 24000) ** 2)
    assert learning_rate(64014, 24.0, cfg) == pytest.approx(24 * ((72000 - 64014) / 24000) ** 2)  # ~0.111 x
    assert learning_rate(72000, 24.0, cfg) == 0.0
    assert learning_rate(90000, 24.0, cfg) == 0.0


def test_multi_gpu_power_end_lr_and_warmup_factor() -> None:
    cfg = OptimizerConfig(lr=10.0, warmup_steps=100, warmup_factor=1, decay_start_step=200, decay_steps=100,
                          decay_power=1.5, decay_end_lr=2.0)
    # warmup_factor f: phi = 1 - (W - t) / (W * 2^f): starts at 1/2 instead of 0
    assert learning_rate(1, 10.0, cfg) == pytest.approx(10 * (1 - 99 / 200))
    assert learning_rate(100, 10.0, cfg) == 10.0
    assert learning_rate(250, 10.0, cfg) == pytest.approx(10 * 0.5**1.5)  # 3.54 > end lr 2
    assert learning_rate(290, 10.0, cfg) == pytest.approx(2.0)  # (0.1)^1.5 * 10 = 0.32 -> clamped at end lr
    assert learning_rate(301, 10.0, cfg) == pytest.approx(2.0)
    # the factor scales each group's base lr (amp: lr / loss_scale), end lr included
    assert learning_rate(301, 10.0 / 1024, cfg) == pytest.approx(2.0 / 1024)


def test_decay_start_before_warmup_end_is_refused() -> None:
    with pytest.raises(ValueError, match="decay_start_step"):
        OptimizerConfig(warmup_steps=100, decay_start_step=50)
