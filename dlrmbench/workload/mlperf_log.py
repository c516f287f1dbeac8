"""``:::MLLOG`` lines for the MLPerf Training ``dlrm`` benchmark (SGD DLRM, rulesets 0.7.0-2.1.0).

Written with the ``mlperf-logging`` package's ``MLLogger`` on a private file logger (never stdout,
which carries the worker's events). Key order follows reference/mlperf-logging.md sections 5, 8
and 12: ``submission_division`` before ``init_stop``, hyperparameters as Python numbers, every
eval tagged with ``epoch_num`` (old-DLRM convention ``1 + epochs done``), one ``run_stop`` with a
status. ``run_start`` is the same instant the harness's time to train starts from.
"""

from __future__ import annotations

from typing import Any

from dlrmbench.config.schema import Case
from dlrmbench.errors import UserError
from dlrmbench.mlperf.mllog_file import MllogFile

BENCHMARK = "dlrm"
MLPERF_TARGET_AUC = 0.8025  # old DLRM quality target (training rules v0.7-v2.1)


class MlperfLog(MllogFile):
    """One case's MLPerf log file; methods are called at the matching points of the run."""

    first_epoch = 1  # old DLRM: epoch_num = 1 + epochs done

    def __init__(self, case: Case) -> None:
        try:
            import mlperf_logging.mllog  # noqa: F401
        except ImportError:
            raise UserError(
                f"case {case.name}: mlperf_log needs the mlperf-logging package "
                "(pip install 'dlrmbench[mlperf]')"
            ) from None
        from dlrmbench.config.paths import case_path

        assert case.mlperf_log is not None
        self.case, self.cfg = case, case.mlperf_log
        super().__init__(case_path(self.cfg.path, case), "dlrmbench.mlperf")

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
        self._event(c.GLOBAL_BATCH_SIZE, int(case.batch_size))  # batch_size is the global batch
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

    def weights_initialized(self, model: Any = None) -> None:
        """One ``weights_initialization`` line per tensor group the checker names: the tables, then one per
        layer of the case's bottom and top MLPs (the top's last layer is the output layer), whatever the
        topology holds on this rank."""
        c = self.c
        self._event(c.WEIGHTS_INITIALIZATION, tensor="embeddings")
        for i in range(1, len(self.case.model.bottom_mlp) + 1):
            self._event(c.WEIGHTS_INITIALIZATION, tensor=f"bottom_mlp_dense{i}")
        for i in range(1, len(self.case.model.top_mlp) + 1):
            self._event(c.WEIGHTS_INITIALIZATION, tensor=f"top_mlp_dense{i}")

    def target(self) -> float:
        """The AUC that counts as success: the case's auc_threshold, else MLPerf's 0.8025."""
        return self.case.auc_threshold if self.case.auc_threshold is not None else MLPERF_TARGET_AUC


def open_mlperf_log(case: Case) -> "MllogFile | None":
    """The MLLOG of a training case with ``mlperf_log`` (``init_start`` written), else None. A multi-process
    case calls this on rank 0 only: its values (evaluations, samples) are already the global ones."""
    if case.mlperf_log is None or case.mode != "train":
        return None
    if case.mlperf_log.benchmark == "dlrm_dcnv2":
        from dlrmbench.mlperf.dcnv2_log import dcnv2_log_for

        log: MllogFile = dcnv2_log_for(case)
    else:
        log = MlperfLog(case)
    log.init_start()
    return log
