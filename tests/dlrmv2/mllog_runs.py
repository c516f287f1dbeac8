"""Drive a dlrm_dcnv2 MLLOG file through a run's life cycle (the evaluations are the test's inputs)."""

from __future__ import annotations

from pathlib import Path

from dlrmbench.mlperf.dcnv2_log import Dcnv2MlperfLog, Dcnv2Run


def write_log(path: Path, run: Dcnv2Run, aucs: list[float], steps_per_epoch: int = 40, eval_every: int = 2,
              eval_samples: int | None = None) -> Path:
    log = Dcnv2MlperfLog(path, run)
    log.init_start()
    log.init_stop_run_start()
    log.train_samples(steps_per_epoch * run.global_batch_size)
    done = 0.0
    for i, auc in enumerate(aucs, 1):
        done = i * eval_every / steps_per_epoch
        log.eval_start(done)
        log.eval_result(done, auc, eval_samples if eval_samples is not None else run.eval_samples)
        if auc >= log.target():
            break
    log.run_stop(success=any(a >= log.target() for a in aucs), epochs_done=done)
    log.close()
    return path
