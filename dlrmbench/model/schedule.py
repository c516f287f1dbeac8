"""NVIDIA's learning-rate schedules: linear warm-up, then polynomial decay (facts sheet 2.2).

Steps ``t`` are 1-based optimisation steps: the reference's 0-based ``global_step`` 200 is
``t = 201`` (its README line "step 200 ... lr 0.8794" = 28 * 201 / 6400).

``decay_steps: 0`` disables the decay in both policies. That is the 2020 single-GPU behaviour;
for the multi-GPU policy it is a named deviation (NVIDIA's ``LearningRateScheduler`` with
``decay_steps = 0`` would set the rate to ``decay_end_lr`` after ``decay_start_step``).
"""

from __future__ import annotations

from dlrmbench.config.schema import OptimizerConfig


def lr_factor(t: int, cfg: OptimizerConfig) -> float:
    """The multi-GPU ``LearningRateScheduler`` factor phi(t); lr = base_lr * phi(t)."""
    warmup, start = cfg.warmup_steps, cfg.decay_start_step
    start = warmup if start is None else start
    if warmup > 0 and t <= warmup:
        return 1.0 - (warmup - t) / (warmup * 2**cfg.warmup_factor)
    if cfg.decay_steps == 0:
        return 1.0
    end_factor = cfg.decay_end_lr / cfg.lr
    if start < t <= start + cfg.decay_steps:
        return max(((start + cfg.decay_steps - t) / cfg.decay_steps) ** cfg.decay_power, end_factor)
    if t > start + cfg.decay_steps:
        return end_factor
    return 1.0


def single_gpu_2020_lr(t: int, base_lr: float, cfg: OptimizerConfig) -> float:
    """The 2020 single-GPU ``lr_step``: power fixed at 2, end lr ignored, floor 1e-7 on the lr used."""
    warmup, start = cfg.warmup_steps, cfg.decay_start_step
    start = warmup if start is None else start
    if warmup > 0 and t <= warmup:
        return base_lr * (1.0 - (warmup - t) / (warmup * 2**cfg.warmup_factor))
    if cfg.decay_steps != 0 and t > start:
        d = cfg.decay_steps
        return max(base_lr * ((d - min(t - start, d)) / d) ** 2, 1e-7)
    return base_lr


def learning_rate(t: int, base_lr: float, cfg: OptimizerConfig) -> float:
    """The learning rate at step ``t`` for a parameter group whose base rate is ``base_lr``."""
    if cfg.lr_policy == "single_gpu_2020":
        return single_gpu_2020_lr(t, base_lr, cfg)
    return base_lr * lr_factor(t, cfg)
