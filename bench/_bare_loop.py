"""A bare training loop of one suite case, in this process: the yardstick ``bench/harness_overhead.py`` holds
``dlrmbench run`` against.

    python bench/_bare_loop.py SUITE.yaml CASE    -> one JSON line: step times (s), page faults, allocator

The same model (built by dlrmbench from the case, same seed), the same batches (the case's dataset, iterated
as the harness iterates it), the same step (forward under the precision's autocast, the family's loss,
backward, optimizer step); none of the harness around it: no worker protocol, no progress events, no telemetry, no
learning-rate schedule. Page faults are this process's own (``getrusage``) over the measured steps.
"""

from __future__ import annotations

import json
import resource
import sys
import time


def main(suite: str, name: str) -> None:
    from dlrmbench import allocators
    from dlrmbench.config.loader import load_suite
    from dlrmbench.workload.build import build_workload, resolve
    from dlrmbench.workload.precision import apply_precision
    from dlrmbench.workload.train import make_optimizer, train_step

    case = next(c for c in load_suite(suite).cases if c.name == name)
    work = build_workload(resolve(case))
    model, family, policy = work.model, work.family, apply_precision(case, work.device)
    optimizer = make_optimizer(work.resolved, model)
    if getattr(model.embeddings, "applies_own_optimizer", False):
        model.embeddings.set_learning_rate(case.optimizer.lr)
    model.train()
    huge = allocators.huge_page_bytes()  # after the build, as the worker records it
    total, warmup = case.max_steps, case.benchmark_warmup_steps
    times: list[float] = []
    faults: list[int] = []
    while len(times) < total:
        for batch in work.dataset.batches("train", case.batch_size, work.device):
            if len(times) == warmup:
                usage = resource.getrusage(resource.RUSAGE_SELF)
                faults = [usage.ru_minflt, usage.ru_majflt, usage.ru_stime, usage.ru_utime + usage.ru_stime]
            start = time.perf_counter()
            train_step(model, batch, family.target(batch), optimizer, family, policy)
            times.append(time.perf_counter() - start)
            if len(times) == total:
                break
    usage = resource.getrusage(resource.RUSAGE_SELF)
    measured = total - warmup
    print(json.dumps({"step_times_s": times[warmup:], "minor_faults_per_step": (usage.ru_minflt - faults[0]) / measured,
                      "major_faults": usage.ru_majflt - faults[1],
                      "cpu_s_per_step": (usage.ru_utime + usage.ru_stime - faults[3]) / measured,
                      "kernel_cpu_share": (usage.ru_stime - faults[2]) / max(1e-9, usage.ru_utime + usage.ru_stime - faults[3]),
                      "allocator": {**allocators.observed(), "huge_page_bytes": huge}}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
