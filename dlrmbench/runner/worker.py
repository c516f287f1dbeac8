"""The worker process: runs one resolved case and reports events on stdout.

Usage (by the runner, not by hand): ``python -m dlrmbench.runner.worker CASE.json``. The case
file holds the planner's :class:`~dlrmbench.resolved.ResolvedCase`; the worker (and every torchrun
rank) builds from it directly: no plugin registry, no second validation of plugin options.
Exit status: 0 ok, 1 failed, 2 not a resolved case file, 130 interrupted.
"""

from __future__ import annotations

import os
import signal
import sys
import traceback
from pathlib import Path
from typing import Any

from dlrmbench import allocators
from dlrmbench.errors import UserError
from dlrmbench.resolved import ResolvedCase, read_resolved_case
from dlrmbench.workload.reporter import Reporter
from dlrmbench.workload.result_metrics import (
    inference_metrics, memory_metrics, serving_metrics, test_metrics, train_metrics,
)


def run_case(resolved: ResolvedCase, reporter: Reporter) -> None:
    """Build the resolved case's workload and run its mode, reporting the final ``result`` event."""
    import torch

    from dlrmbench.data.watch import data_files
    from dlrmbench.workload.build import build_workload

    case = resolved.case
    allocator = allocators.checked()  # the allocator this process runs with, recorded with the result
    torch.set_num_threads(case.threads or max(1, torch.get_num_threads()))
    from dlrmbench.workload.mlperf_log import open_mlperf_log

    mlperf = open_mlperf_log(case)
    try:
        work = build_workload(resolved)
        if mlperf is not None:
            mlperf.weights_initialized(work.model)
        memory = memory_metrics(getattr(work.model, "embeddings", None), resolved)
        reporter.emit("built", table_sizes=work.table_sizes,
                      parameters=sum(p.numel() for p in work.model.parameters()),
                      embedding_bytes=memory.get("embedding_parameter_bytes", {}).get("value"),
                      embedding_optimizer_state_bytes=memory.get("embedding_optimizer_state_bytes", {}).get("value"),
                      torch_version=torch.__version__, cuda_version=torch.version.cuda,
                      threads=torch.get_num_threads(),
                      allocator={**allocator, "huge_page_bytes": allocators.huge_page_bytes()},
                      data=data_files(work.dataset))
        if case.mode == "train":
            _run_train(work, reporter, mlperf, memory)
        elif case.mode == "test":
            _run_test(work, reporter, memory)
        elif case.mode == "serve" and case.serve is not None and case.serve.scenario is not None:
            from dlrmbench.runner.artifacts import ARTIFACTS_VARIABLE, case_artifacts
            from dlrmbench.workload.result_metrics import loadgen_metrics
            from dlrmbench.export.serve_loadgen import accuracy_evaluation, run_loadgen

            records, facts, outcome = run_loadgen(work, reporter, case_artifacts(case.name) / "loadgen",
                                                  relative_to_run=bool(os.environ.get(ARTIFACTS_VARIABLE)))
            accuracy = outcome.get("accuracy")
            reporter.emit("result", metrics={**loadgen_metrics(records, outcome), **memory}, inference=records,
                          environment=facts, evaluations=[accuracy_evaluation(accuracy)] if accuracy else [])
        elif case.mode == "serve":
            from dlrmbench.export.serve_mode import run_serve

            records, facts = run_serve(work, reporter)
            reporter.emit("result", metrics={**serving_metrics(records), **memory}, inference=records,
                          environment=facts)
        else:
            from dlrmbench.workload.inference import run_inference

            records = run_inference(work, reporter)
            reporter.emit("result", metrics={**inference_metrics(records), **memory}, inference=records)
    finally:
        if mlperf is not None:
            mlperf.run_stop(success=False, epochs_done=0.0)  # no-op unless the run stopped early
            mlperf.close()


def _run_train(work: Any, reporter: Reporter, mlperf: Any, memory: dict[str, Any]) -> None:
    from dlrmbench.workload.train import train

    case, resolved = work.case, work.resolved
    outcome = train(work, reporter, mlperf)
    if case.checkpoint is not None and case.checkpoint.save is not None:
        from dlrmbench.config.paths import case_path
        from dlrmbench.workload.checkpoint import save_checkpoint

        path = case_path(case.checkpoint.save, case)
        last = outcome.evaluations[-1] if outcome.evaluations else {}
        save_checkpoint(work.model, path, case, work.table_sizes,
                        extra={"steps": outcome.steps, **{m.name: last.get(m.name) for m in resolved.metrics}},
                        optimizer=outcome.optimizer)
        reporter.emit("checkpoint", path=str(path), steps=outcome.steps)
    reporter.emit("result", metrics={**train_metrics(outcome, resolved), **memory}, evaluations=outcome.evaluations,
                  step_times=outcome.step_times)


def _run_test(work: Any, reporter: Reporter, memory: dict[str, Any]) -> None:
    """Evaluate the (loaded) model once on the test split: the quality of the run that saved it."""
    from dlrmbench.workload.evaluate import evaluate
    from dlrmbench.workload.precision import apply_precision

    case = work.case
    policy = apply_precision(case, work.device)
    reporter.emit("start", mode="test", total_steps=1)
    result = evaluate(work.family, work.model, work.dataset.batches("test", case.eval_batch_size, work.device),
                      work.device, policy, case.test_batches)
    reporter.emit("result", metrics={**test_metrics(result, work.resolved), **memory},
                  evaluations=[{"step": 0, **result.record()}])


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def die_with_parent() -> None:
    """On Linux, be killed when the ``dlrmbench run`` process dies, even by SIGKILL: no orphaned worker
    keeps the CPU or GPU busy after its run is gone (``prctl(PR_SET_PDEATHSIG)``; elsewhere nothing)."""
    from dlrmbench.runner.isolate import PARENT_PID_VARIABLE

    expected = os.environ.get(PARENT_PID_VARIABLE, "")
    if not sys.platform.startswith("linux") or not expected.isdigit() or os.getppid() != int(expected):
        return  # not started by dlrmbench run directly (a test, a launcher in between)
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != int(expected):  # the parent died before prctl took effect
        os._exit(1)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        resolved = read_resolved_case(Path(args[0]))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if resolved.launcher == "torchrun":  # one rank of a hybrid-parallel case: a one-way call into distributed
        from dlrmbench import distributed

        code = distributed.run_rank(resolved)
        if code == 0:
            # A finished rank skips interpreter and C++ teardown: destroying the process group's
            # threads at exit can abort a rank that already reported its result, which torchrun would
            # count as a failure. Failing ranks exit normally so torchrun sees their error first.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
        return code
    die_with_parent()
    reporter = Reporter(sys.stdout)
    signal.signal(signal.SIGTERM, _terminate)
    # The parent forwards Ctrl-C as SIGINT; honour it even when this process was started with SIGINT
    # ignored (a parent launched in the background by a non-interactive shell passes that on).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        run_case(resolved, reporter)
        return 0
    except KeyboardInterrupt:
        reporter.emit("interrupted")
        return 130
    except Exception as exc:  # the parent records the case as failed with this message
        from dlrmbench.workload.train import Diverged

        kind = "diverged" if isinstance(exc, Diverged) else type(exc).__name__
        if isinstance(exc, UserError):  # a bad input found late (checkpoint shape, missing file)
            kind = "bad input"
        reporter.emit("error", kind=kind, message=str(exc), traceback=traceback.format_exc()[-4000:])
        return 1


if __name__ == "__main__":
    sys.exit(main())
