"""What a ``dlrm_dcnv2`` run must match to be a closed-division MLPerf result, and why one is not.

One list of reasons serves the planner (a case asking for ``mlperf_log.division: closed`` that differs is
not run: it says why and to use ``open``) and ``dlrmbench mlperf package`` (a run whose log says closed but
whose recorded case differs is refused, naming each reason). No torch.

Sources: the reference model, rows and hotness are ``mlcommons/training:recommendation_v2/torchrec_dlrm``
(README@3e2f7317, dlrm_main.py@3264b4fb; reference/dlrmv2-and-methods.md section 2); the Adagrad settings
and eval set are the closed rules (``closed_dlrm_dcnv2.yaml``, identical in rulesets 3.0.0-6.0.0); the
learning rates are the reference convergence points (RCPs) the RCP checker compares against:
:data:`RCP_SOURCE`. The reference trains in fp32 and so were every RCP made; dlrmbench's bf16 and amp
paths have not been shown to converge like them, so a closed run here is fp32.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dlrmbench.mlperf.dcnv2_log import ADAGRAD_EPS

if TYPE_CHECKING:
    from dlrmbench.config.schema import Case

REFERENCE_TABLE_SIZES = [40000000, 39060, 17295, 7424, 20265, 3, 7122, 1543, 63, 40000000, 3067956, 405282, 10,
                         2209, 11938, 155, 4, 976, 14, 40000000, 40000000, 40000000, 590152, 12973, 108, 36]
REFERENCE_HOTNESS = [3, 2, 1, 2, 6, 1, 1, 1, 1, 7, 3, 8, 1, 6, 9, 5, 1, 1, 1, 12, 100, 27, 10, 3, 1, 1]
REFERENCE_MODEL = {"num_numerical": 13, "bottom_mlp": [512, 256, 128], "top_mlp": [1024, 1024, 512, 256, 1],
                   "embedding_dim": 128}
REFERENCE_DCN = {"layers": 3, "low_rank": 512}  # --dcn_num_layers=3 --dcn_low_rank_dim=512

RCP_SOURCE = ("mlperf-logging 4.1.68, mlperf_logging/rcp_checker/training_6.0.0/rcps_dlrm_dcnv2.json "
              "(NVIDIA on DGX-A100, FP32; 160000: Cisco at the 5.1 submission)")
RCP_LEARNING_RATES = {32768: 0.004, 55296: 0.004, 65536: 0.004, 102400: 0.004, 135168: 0.0034, 160000: 0.004}


def rcp_learning_rates(global_batch: int) -> list[float]:
    """The learning rates the RCPs allow at ``global_batch``: its own RCP's, else those of the RCPs either
    side (the RCP checker interpolates between them); empty outside the RCPs' range."""
    if global_batch in RCP_LEARNING_RATES:
        return [RCP_LEARNING_RATES[global_batch]]
    below = [b for b in RCP_LEARNING_RATES if b < global_batch]
    above = [b for b in RCP_LEARNING_RATES if b > global_batch]
    if not below or not above:
        return []
    return sorted({RCP_LEARNING_RATES[max(below)], RCP_LEARNING_RATES[min(above)]})


def closed_problems(case: "Case", table_sizes: list[int] | None = None, hotness: list[int] | None = None
                    ) -> list[str]:
    """Why ``case`` cannot be a closed ``dlrm_dcnv2`` result (empty when it can).

    ``table_sizes`` and ``hotness``: what the run really builds and reads (the resolved case's), else taken
    from the case's own fields; unknown counts as a difference (nothing can be claimed that was not seen).
    """
    problems = []
    model = case.model
    shape = {k: getattr(model, k) for k in REFERENCE_MODEL}
    if shape != REFERENCE_MODEL or model.interaction.name != "dcnv2" or any(
            model.interaction.options.get(k, v) != v for k, v in REFERENCE_DCN.items()):
        problems.append("the model is not the reference's (closed: bottom 13-512-256-128, dcnv2 of 3 layers and "
                        "rank 512, top 1024-1024-512-256-1, dim 128)")
    sizes = table_sizes if table_sizes is not None else model.table_sizes
    if sizes is None or list(sizes) != REFERENCE_TABLE_SIZES or model.max_table_size is not None:
        problems.append("the table sizes are not the reference's 26 tables (40M rows at most)")
    hot = hotness if hotness is not None else case.dataset.options.get("multi_hot_sizes")
    if hot is None or list(hot) != REFERENCE_HOTNESS:
        problems.append("the ids per feature are not the reference's multi-hot sizes (3, 2, 1, ..., 100, 27, ...)")
    if case.auc_comparable is not True:
        problems.append(f"dataset {case.dataset.name} is not the MLPerf Criteo 1TB multi-hot data (synthetic "
                        "or unknown labels)")
    if case.precision != "fp32":
        problems.append(f"precision {case.precision} (closed here: fp32, as the reference and the RCPs train)")
    if model.mlp_init != "torch":
        problems.append(f"model.mlp_init {model.mlp_init} (closed: torch, the reference's nn.Linear default)")
    opt = case.optimizer
    if opt.name != "adagrad":
        problems.append(f"optimizer {opt.name} (closed: adagrad)")
    elif float(opt.options.get("eps", ADAGRAD_EPS)) != ADAGRAD_EPS:
        problems.append(f"Adagrad epsilon {opt.options.get('eps')} (closed: 1e-8)")
    if opt.warmup_steps or opt.decay_start_step or opt.decay_steps:
        problems.append("a learning-rate warm-up or decay (closed: none)")
    allowed = rcp_learning_rates(case.batch_size)
    if not allowed:
        problems.append(f"no reference convergence point covers global batch {case.batch_size} (RCPs: "
                        f"{', '.join(str(b) for b in sorted(RCP_LEARNING_RATES))})")
    elif float(opt.lr) not in allowed:
        problems.append(f"learning rate {opt.lr:g} at global batch {case.batch_size} (the RCPs': "
                        f"{' or '.join(f'{lr:g}' for lr in allowed)})")
    return problems


def closed_reason(case: "Case", table_sizes: list[int] | None, hotness: list[int] | None) -> str | None:
    """The planner's reason not to run a case that asks for a closed ``dlrm_dcnv2`` log it cannot be."""
    cfg = case.mlperf_log
    if cfg is None or cfg.benchmark != "dlrm_dcnv2" or cfg.division != "closed":
        return None
    problems = closed_problems(case, table_sizes, hotness)
    if not problems:
        return None
    return "mlperf_log.division closed: " + "; ".join(problems) + " (set mlperf_log.division: open)"

