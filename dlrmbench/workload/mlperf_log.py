"""``:::MLLOG`` lines for the MLPerf Training ``dlrm`` benchmark (SGD DLRM, rulesets 0.7.0-2.1.0).

Written with the ``mlperf-logging`` package's ``MLLogger`` on a private file logger (never stdout,
which carries the worker's events). Key order follows reference/mlperf-logging.md sections 5, 8
and 12: ``submission_division`` before ``init_stop``, hyperparameters as Python numbers, every
eval tagged with ``epoch_num`` (old-DLRM convention ``1 + epochs done``), one ``run_stop`` with a
status. ``run_start`` is the same instant the harness's time to train starts from.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from dlrmbench.config.schema import Case
from dlrmbench.errors import UserError

BENCHMARK = "dlrm"
MLPERF_TARGET_AUC = 0.8025  # old DLRM quality target (training rules v0.7-v2.1)


class MlperfLog:
    """One case's MLPerf log file; methods are called at the matching points of the run."""

    def __init__(self, case: Case) -> None:
        try:
            from mlperf_logging.mllog import mllog
            from mlperf_logging.mllog import constants
        except ImportError:
            raise UserError(
                f"case {case.name}: mlperf_log needs the mlperf-logging package "
                "(pip install 'dlrmbench[mlperf]')"
            ) from None
        from dlrmbench.workload.checkpoint import resolve_path

        assert case.mlperf_log is not None
        self.case, self.cfg, self.c = case, case.mlperf_log, constants
        self.path = resolve_path(self.cfg.path, case)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._logger = logging.getLogger(f"dlrmbench.mlperf.{id(self)}")
        self._logger.propagate = False
        self._logger.setLevel(logging.INFO)
        self._handler = logging.FileHandler(self.path, mode="w", encoding="utf-8")
        self._handler.setFormatter(logging.Formatter("%(message)s"))
        self._logger.addHandler(self._handler)
        self._ml = mllog.MLLogger(logger=self._logger, default_stack_offset=2)
        self._eval_samples_logged = False
        self._stopped = False
        self._epoch_started = False
        self.run_started = False

    def _event(self, key: str, value: Any = None, **metadata: Any) -> None:
        self._ml.event(key, value, metadata=metadata or None)

    def init_start(self) -> None:
        """Before the model is built: cache_clear, init_start, submission and hyperparameter keys."""
        c, case, opt = self.c, self.case, self.case.optimizer
        self._event(c.CACHE_CLEAR, True)
        self._ml.start(c.INIT_START)
        self._event(c.SUBMISSION_BENCHMARK, BENCHMARK)
        self._event(c.SUBMISSION_DIVISION, self.cfg.division)
        self._event(c.SUBMISSION_ORG, self.cfg.org)
        self._event(c.SUBMISSION_PLATFORM, self.cfg.platform)
        self._event(c.SUBMISSION_STATUS, self.cfg.status)
        self._event(c.SEED, int(case.seed))
        self._event(c.GLOBAL_BATCH_SIZE, int(case.batch_size * case.world_size))
        self._event(c.GRADIENT_ACCUMULATION_STEPS, 1)
        self._event(c.OPT_NAME, "sgd")
        self._event(c.OPT_BASE_LR, float(opt.lr))
        self._event(c.OPT_LR_WARMUP_STEPS, int(opt.warmup_steps))
        start = opt.warmup_steps if opt.decay_start_step is None else opt.decay_start_step
        self._event("lr_decay_start_steps", int(start))
        self._event("sgd_opt_base_learning_rate", float(opt.lr))
        self._event("sgd_opt_learning_rate_decay_steps", int(opt.decay_steps))
        power = 2.0 if opt.lr_policy == "single_gpu_2020" else float(opt.decay_power)
        self._event("sgd_opt_learning_rate_decay_poly_power", int(power) if power.is_integer() else power)

    def weights_initialized(self, model: torch.nn.Module) -> None:
        """One ``weights_initialization`` line per tensor group the checker names."""
        c = self.c
        self._event(c.WEIGHTS_INITIALIZATION, tensor="embeddings")
        linears = lambda module: [m for m in module.modules() if isinstance(m, torch.nn.Linear)]  # noqa: E731
        for i, _ in enumerate(linears(model.bottom_mlp), 1):
            self._event(c.WEIGHTS_INITIALIZATION, tensor=f"bottom_mlp_dense{i}")
        top = linears(model.top_mlp) + [model.out]
        for i, _ in enumerate(top, 1):
            self._event(c.WEIGHTS_INITIALIZATION, tensor=f"top_mlp_dense{i}")

    def init_stop_run_start(self) -> None:
        """End initialisation and start the timed run (before the data is opened)."""
        self._ml.end(self.c.INIT_STOP)
        self._ml.start(self.c.RUN_START)
        self.run_started = True

    def train_samples(self, samples: int) -> None:
        """The planned number of training samples, then the start of the (single) epoch."""
        self._event(self.c.TRAIN_SAMPLES, int(samples))
        self._ml.start(self.c.EPOCH_START, metadata={self.c.EPOCH_NUM: 1})
        self._epoch_started = True

    def eval_start(self, epochs_done: float) -> None:
        self._ml.start(self.c.EVAL_START, metadata={self.c.EPOCH_NUM: 1 + float(epochs_done)})

    def eval_result(self, epochs_done: float, auc: float, samples: int) -> None:
        c = self.c
        self._event(c.EVAL_ACCURACY, float(auc), **{c.EPOCH_NUM: 1 + float(epochs_done)})
        self._ml.end(c.EVAL_STOP, metadata={c.EPOCH_NUM: 1 + float(epochs_done)})
        if not self._eval_samples_logged:
            self._event(c.EVAL_SAMPLES, int(samples))
            self._eval_samples_logged = True

    def run_stop(self, success: bool, epochs_done: float) -> None:
        """End the epoch and the run (``success`` when the target AUC was reached)."""
        if self._stopped or not self.run_started:
            return
        self._stopped = True
        c = self.c
        if self._epoch_started:
            self._ml.end(c.EPOCH_STOP, metadata={c.EPOCH_NUM: 1})
        status = c.SUCCESS if success else c.ABORTED
        self._ml.end(c.RUN_STOP, metadata={c.STATUS: status, c.EPOCH_NUM: 1 + float(epochs_done)})

    def target(self) -> float:
        """The AUC that counts as success: the case's auc_threshold, else MLPerf's 0.8025."""
        return self.case.auc_threshold if self.case.auc_threshold is not None else MLPERF_TARGET_AUC

    def close(self) -> None:
        self._handler.flush()
        self._handler.close()
        self._logger.removeHandler(self._handler)
