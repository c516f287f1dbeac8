"""``dlrmbench doctor``: the machine settings that move results, and this machine's run-to-run variation."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import click

from dlrmbench.machine.variation import MIN_RUNS

STATUS_MARK = {"ok": "ok", "warn": "WARN", "info": "info", "unknown": "??"}


@click.command("doctor")
@click.option("--measure-variation", is_flag=True,
              help="Also run a short reference case --runs times (each its own process, a few seconds each) and "
                   "store this machine's run-to-run variation; compare uses it for one-run-a-side verdicts.")
@click.option("--runs", type=click.IntRange(min=MIN_RUNS, max=50), default=5, show_default=True,
              help="Runs of the reference case for --measure-variation.")
@click.option("--json", "as_json", is_flag=True, help="Print the findings (and the variation) as JSON.")
def doctor_command(measure_variation: bool, runs: int, as_json: bool) -> None:
    """Check this machine for settings that move benchmark results.

    CPU governor and boost, SMT, transparent huge pages, the memory allocator, other processes' CPU use,
    CPU isolation and NUMA placement; on NVIDIA GPUs (NVML) persistence mode, application clocks, power
    limit, ECC, MIG, other processes and the PCIe link. Each finding says why it moves results and how to
    fix it. 'dlrmbench run' records the same checks in every result set. Exit status 0: findings are
    advice, not errors.
    """
    from dlrmbench.machine.checks import machine_checks
    from dlrmbench.machine.variation import stored_for, store_path
    from dlrmbench.telemetry.environment import machine_id

    findings = machine_checks()
    machine = machine_id(_environment())
    variation = _measure(runs, machine) if measure_variation else stored_for(machine)
    if as_json:
        click.echo(json.dumps({"schema": "dlrmbench.doctor", "schema_version": 1, "machine": machine,
                               "findings": [f.as_dict() for f in findings], "run_to_run": variation}, indent=2))
        return
    for f in findings:
        click.echo(f"[{STATUS_MARK.get(f.status, f.status)}] {f.check}: {f.value}")
        if f.why:
            click.echo(f"      why: {f.why}")
        if f.fix:
            click.echo(f"      fix: {f.fix}")
    if variation is None:
        click.echo(f"run-to-run variation of machine {machine}: not measured (dlrmbench doctor --measure-variation; "
                   "until then, one-run-a-side comparisons cannot be judged)")
    else:
        click.echo(f"run-to-run variation of machine {machine}: {variation['cv']:.1%} over {variation['runs']} runs "
                   f"({variation.get('noisy_runs', 0)} noisy), measured {variation.get('measured_at')}; "
                   f"stored in {store_path()}")


def _environment() -> dict:
    from dlrmbench.host import current_host
    from dlrmbench.telemetry.environment import identity

    return identity(current_host())


def _measure(runs: int, machine: str) -> dict:
    """Run the reference case ``runs`` times (interleaved rounds of one case), store and return the record."""
    import subprocess
    import sys

    from dlrmbench.errors import UserError
    from dlrmbench.machine.variation import record_from, reference_suite, save
    from dlrmbench.results.load import load_results
    from dlrmbench.results.verdict import runs_of

    with tempfile.TemporaryDirectory(prefix="dlrmbench-doctor-") as tmp:
        suite = Path(tmp) / "doctor-reference.yaml"
        suite.write_text(reference_suite())
        click.echo(f"measuring run-to-run variation: {runs} runs of the reference case ...", err=True)
        # a separate `dlrmbench run`, its output on stderr: stdout stays this command's (one JSON document)
        subprocess.run([sys.executable, "-m", "dlrmbench", "run", str(suite), "-o", str(Path(tmp) / "results"),
                        "--repeat", str(runs), "--quiet"], stdout=sys.stderr, check=False)
        loaded = load_results([Path(tmp) / "results"])
        measured = [run for s in loaded.sets for run in runs_of(s.results, "train_throughput") if run.value > 0]
        if len(measured) < MIN_RUNS:
            raise UserError(f"the reference case ran {len(measured)} time(s) of {runs}; the variation needs "
                            f"{MIN_RUNS} or more (see the run's errors above)", exit_code=1)
        values = [run.value for run in measured]
        noisy = sum(bool(run.noise) for run in measured)
        started = loaded.sets[0].manifest.started_at
    record = record_from(values, noisy, machine, started)
    save(record)
    return record
