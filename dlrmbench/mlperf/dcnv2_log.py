"""``:::MLLOG`` lines for the MLPerf Training ``dlrm_dcnv2`` benchmark (rulesets 3.0.0 to 6.0.0).

Written with ``mlperf-logging``'s ``MLLogger`` on a private file logger, in the order of
reference/mlperf-logging.md section 6: ``submission_*`` before ``init_stop``; Adagrad hyperparameters
as Python numbers (``opt_adagrad_epsilon`` exactly ``1e-8``, the value the closed rules check);
``train_samples`` after ``run_start``; every eval tagged with ``epoch_num`` = the fraction of the one
epoch done (0.05, 0.10, ...); ``eval_samples`` once; one ``run_stop`` with a status.

Closed division needs the reference hyperparameters (Adagrad, no warm-up or decay, the MLPerf eval set
of 89,137,319 samples) and an AUC >= 0.80275; anything else (a scaled-down model, other data) must be
``open``: :func:`division_problems` says why a run cannot be closed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from dlrmbench.mlperf.mllog_file import MllogFile

if TYPE_CHECKING:
    from dlrmbench.config.schema import Case

BENCHMARK = "dlrm_dcnv2"
TARGET_AUC = 0.80275  # training rules (dlrm_dcnv2); reference README "target AUROC ... 0.80275"
EVAL_SAMPLES = 89_137_319  # MLPerf eval set: first half of day 23 (closed rules: eval_samples == 89137319)
TRAIN_SAMPLES = 4_195_197_692  # days 0-22 (training rules; the reference's TOTAL_TRAINING_SAMPLES)
ADAGRAD_EPS = 1e-8


def eval_interval_steps(global_batch: int, train_samples: int = TRAIN_SAMPLES) -> int:
    """Steps between evaluations: ``floor(train_samples / (global_batch * 20))`` (training rules; the
    reference's ``--validation_freq_within_epoch``), at least 1."""
    return max(1, train_samples // (global_batch * 20))


@dataclass(frozen=True)
class Dcnv2Run:
    """What a dlrm_dcnv2 log states about the run (hyperparameters and submission keys)."""

    global_batch_size: int
    learning_rate: float
    seed: int
    division: Literal["open", "closed"] = "open"
    org: str = "dlrmbench"
    platform: str = "unspecified"
    status: Literal["cloud", "onprem", "preview", "research"] = "research"
    optimizer: str = "adagrad"
    epsilon: float = ADAGRAD_EPS
    warmup_steps: int = 0
    decay_start_step: int = 0
    decay_steps: int = 0
    eval_samples: int = EVAL_SAMPLES


def division_problems(run: Dcnv2Run) -> list[str]:
    """Why ``run`` cannot be logged as closed division (empty when it can)."""
    problems = []
    if run.optimizer != "adagrad":
        problems.append(f"optimizer {run.optimizer} (closed: adagrad)")
    if run.epsilon != ADAGRAD_EPS:
        problems.append(f"Adagrad epsilon {run.epsilon} (closed: 1e-8)")
    if run.warmup_steps or run.decay_start_step or run.decay_steps:
        problems.append("a learning-rate warm-up or decay (closed: none)")
    if run.eval_samples != EVAL_SAMPLES:
        problems.append(f"an eval set of {run.eval_samples:,} samples (closed: MLPerf's {EVAL_SAMPLES:,})")
    return problems


class Dcnv2MlperfLog(MllogFile):
    """One run's MLLOG file; call the methods at the matching points of the run."""

    first_epoch = 0  # dlrm_dcnv2: epoch_num = the fraction of the one epoch done

    def __init__(self, path: Path, run: Dcnv2Run) -> None:
        from dlrmbench.errors import UserError

        try:
            import mlperf_logging.mllog  # noqa: F401
        except ImportError:
            raise UserError("MLPerf logs need the mlperf-logging package (pip install 'dlrmbench[mlperf]')") from None
        if run.division == "closed" and division_problems(run):
            raise UserError(f"{path}: cannot log division closed: {'; '.join(division_problems(run))}; "
                            "use division: open")
        self.run = run
        super().__init__(Path(path), "dlrmbench.mlperf.dcnv2")

    def init_start(self) -> None:
        c, run = self.c, self.run
        self._event(c.CACHE_CLEAR, True)
        self._ml.start(c.INIT_START)
        self._event(c.SUBMISSION_BENCHMARK, BENCHMARK)
        self._event(c.SUBMISSION_DIVISION, run.division)
        self._event(c.SUBMISSION_ORG, run.org)
        self._event(c.SUBMISSION_PLATFORM, run.platform)
        self._event(c.SUBMISSION_STATUS, run.status)
        self._event(c.SEED, int(run.seed))
        self._event(c.GLOBAL_BATCH_SIZE, int(run.global_batch_size))
        self._event(c.GRADIENT_ACCUMULATION_STEPS, 1)
        self._event(c.OPT_NAME, run.optimizer)
        self._event(c.OPT_BASE_LR, float(run.learning_rate))
        self._event("opt_adagrad_learning_rate_decay", 0.0)
        self._event(c.OPT_WEIGHT_DECAY, 0.0)
        self._event("opt_adagrad_initial_accumulator_value", 0.0)
        self._event("opt_adagrad_epsilon", float(run.epsilon))
        self._event(c.OPT_LR_WARMUP_STEPS, int(run.warmup_steps))
        self._event("opt_learning_rate_decay_start_step", int(run.decay_start_step))
        self._event("opt_learning_rate_decay_steps", int(run.decay_steps))

    def weights_initialized(self, model: object) -> None:
        """dlrm_dcnv2 logs no per-tensor weights_initialization lines (its rules do not ask for them)."""

    def target(self) -> float:
        return TARGET_AUC


def dcnv2_log_for(case: "Case") -> Dcnv2MlperfLog:
    """The dlrm_dcnv2 log of a training case (``mlperf_log: {benchmark: dlrm_dcnv2, ...}``)."""
    from dlrmbench.config.paths import case_path

    cfg, opt = case.mlperf_log, case.optimizer
    assert cfg is not None
    run = Dcnv2Run(global_batch_size=int(case.batch_size), learning_rate=float(opt.lr), seed=int(case.seed),
                   division=cfg.division, org=cfg.org, platform=cfg.platform, status=cfg.status, optimizer=opt.name,
                   epsilon=float(opt.options.get("eps", ADAGRAD_EPS)), warmup_steps=int(opt.warmup_steps),
                   decay_start_step=int(opt.decay_start_step or 0), decay_steps=int(opt.decay_steps))
    return Dcnv2MlperfLog(case_path(cfg.path, case), run)
