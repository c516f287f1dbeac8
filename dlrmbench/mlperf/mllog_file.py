"""The run phase of an MLPerf Training ``:::MLLOG`` file, shared by the ``dlrm`` and ``dlrm_dcnv2`` logs.

Both benchmarks log ``init_stop``/``run_start``, ``train_samples`` and one epoch, tagged evaluations,
``eval_samples`` once and one ``run_stop`` with a status in the same way; they differ in the
initialisation keys (subclasses write ``init_start``) and in where epochs are counted from:
``first_epoch`` is 1 for old DLRM (``epoch_num`` = 1 + epochs done) and 0 for dlrm_dcnv2 (the fraction
of the epoch done). Lines go through ``mlperf-logging``'s ``MLLogger`` to a private file logger, never
to stdout, which carries the worker's events.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any


class MllogFile:
    """One MLLOG file; call the methods at the matching points of the run."""

    first_epoch: int = 1
    """``epoch_num`` of the (single) epoch; evaluations are tagged ``first_epoch + epochs done``."""

    def __init__(self, path: Path, logger_name: str) -> None:
        """Open ``path`` for writing (``mlperf_logging`` must be importable: callers check and explain)."""
        from mlperf_logging.mllog import constants, mllog

        self.path, self.c = Path(path), constants
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._logger = logging.getLogger(f"{logger_name}.{id(self)}")
        self._logger.propagate = False
        self._logger.setLevel(logging.INFO)
        self._handler = logging.FileHandler(self.path, mode="w", encoding="utf-8")
        self._handler.setFormatter(logging.Formatter("%(message)s"))
        self._logger.addHandler(self._handler)
        self._ml = mllog.MLLogger(logger=self._logger, default_stack_offset=2)
        self._eval_samples_logged = self._stopped = self._epoch_started = self.run_started = False

    def _event(self, key: str, value: Any = None, **metadata: Any) -> None:
        self._ml.event(key, value, metadata=metadata or None)

    def _epoch_num(self, epochs_done: float) -> float:
        return self.first_epoch + float(epochs_done)

    def init_stop_run_start(self) -> None:
        """End initialisation and start the timed run (before the data is opened)."""
        self._ml.end(self.c.INIT_STOP)
        self._ml.start(self.c.RUN_START)
        self.run_started = True

    def train_samples(self, samples: int) -> None:
        """The planned number of training samples, then the start of the (single) epoch."""
        self._event(self.c.TRAIN_SAMPLES, int(samples))
        self._ml.start(self.c.EPOCH_START, metadata={self.c.EPOCH_NUM: self.first_epoch})
        self._epoch_started = True

    def eval_start(self, epochs_done: float) -> None:
        self._ml.start(self.c.EVAL_START, metadata={self.c.EPOCH_NUM: self._epoch_num(epochs_done)})

    def eval_result(self, epochs_done: float, auc: float, samples: int) -> None:
        """``eval_accuracy`` and ``eval_stop``; ``eval_samples`` after the first evaluation only."""
        c = self.c
        self._event(c.EVAL_ACCURACY, float(auc), **{c.EPOCH_NUM: self._epoch_num(epochs_done)})
        self._ml.end(c.EVAL_STOP, metadata={c.EPOCH_NUM: self._epoch_num(epochs_done)})
        if not self._eval_samples_logged:
            self._event(c.EVAL_SAMPLES, int(samples))
            self._eval_samples_logged = True

    def run_stop(self, success: bool, epochs_done: float) -> None:
        """End the epoch and the run (``success`` when the target AUC was reached); once, after run_start."""
        if self._stopped or not self.run_started:
            return
        self._stopped = True
        c = self.c
        if self._epoch_started:
            self._ml.end(c.EPOCH_STOP, metadata={c.EPOCH_NUM: self.first_epoch})
        status = c.SUCCESS if success else c.ABORTED
        self._ml.end(c.RUN_STOP, metadata={c.STATUS: status, c.EPOCH_NUM: self._epoch_num(epochs_done)})

    def target(self) -> float:
        """The AUC that counts as success."""
        raise NotImplementedError

    def close(self) -> None:
        self._handler.flush()
        self._handler.close()
        self._logger.removeHandler(self._handler)
