"""``dlrmbench run``: plan a suite, run its cases in isolated workers, write and show results."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from dlrmbench.comparability import why_not_comparable
from dlrmbench.config.loader import load_suite
from dlrmbench.errors import UserError
from dlrmbench.host import current_host
from dlrmbench.plugins import get_manager, get_registry
from dlrmbench.runner.plan import PlannedCase, plan, select


def plugin_name(item: PlannedCase, kind: str) -> str:
    """The case's plugin of ``kind`` as resolved, ``-`` when its family uses none of that kind."""
    plugin = item.resolved.plugins.get(kind)  # type: ignore[call-overload]
    return plugin.name if plugin is not None else "-"


def plan_table(planned: list[PlannedCase]) -> Table:
    table = Table(title="planned cases", title_justify="left")
    for column in ("case", "mode", "device", "precision", "backend", "embedding", "dataset", "batch", "plan"):
        table.add_column(column, no_wrap=True)
    for item in planned:
        c = item.case
        device = f"{c.gpus}x cuda" if c.device == "cuda" else (f"cpu x{c.processes}" if c.processes > 1 else "cpu")
        verdict = Text("run", style="green") if item.runnable else Text("skip: ", style="yellow") + Text(
            str(item.skip_reason))
        off = why_not_comparable(c.model_dump(include={"comparable", "not_comparable"}))
        verdict += Text(f" ({off})" if off else "", style="dim")
        verdict += Text(f" (same as {c.tags['same_as']})" if c.tags.get("same_as") else "", style="yellow")
        table.add_row(Text(c.name), c.mode, device, c.precision, Text(plugin_name(item, "backend")),
                      Text(plugin_name(item, "embedding")), Text(c.dataset.name), str(c.batch_size), verdict)
    return table


def plan_lines(planned: list[PlannedCase]) -> list[str]:
    """The plan as a plain stacked list (narrow terminals, logs)."""
    lines = ["planned cases"]
    for item in planned:
        c = item.case
        verdict = "run" if item.runnable else f"skip: {item.skip_reason}"
        same = f" (same as {c.tags['same_as']})" if c.tags.get("same_as") else ""
        off = why_not_comparable(c.model_dump(include={"comparable", "not_comparable"}))
        lines.append(f"- {c.name}: {verdict}{f' ({off})' if off else ''}{same}")
        lines.append(f"    {c.mode}, {c.device} x{c.gpus if c.device == 'cuda' else c.processes}, {c.precision}, "
                     f"family {c.model.family}, backend {plugin_name(item, 'backend')}, "
                     f"embedding {plugin_name(item, 'embedding')}, dataset {c.dataset.name}, batch {c.batch_size}")
    return lines


def print_plan(console: Console, planned: list[PlannedCase]) -> None:
    """The plan table when every cell fits whole at the console's width, else the stacked list."""
    from dlrmbench.report.fit import print_table

    print_table(console, plan_table(planned), plan_lines(planned))


LABEL_KEY = r"[A-Za-z][A-Za-z0-9_.-]{0,63}"


def parse_labels(labels: tuple[str, ...]) -> dict[str, str]:
    """``KEY=VALUE`` pairs of ``--label``; a UserError naming the bad one and the fix."""
    import re

    out: dict[str, str] = {}
    for item in labels:
        key, sep, value = item.partition("=")
        if not sep or not re.fullmatch(LABEL_KEY, key):
            raise UserError(f"--label {item[:80]!r}: expected KEY=VALUE with a KEY of letters, digits, '_', '.', '-' "
                            "starting with a letter (e.g. --label commit=abc123)")
        if len(value) > 200 or any(not c.isprintable() for c in value):
            raise UserError(f"--label {key}: the value must be printable text of at most 200 characters")
        if key in out and out[key] != value:
            raise UserError(f"--label {key}: given twice with different values ({out[key]!r}, {value!r})")
        out[key] = value
    return out


@click.command("run")
@click.argument("suite", type=click.Path(path_type=Path), required=False)
@click.option("--dry-run", is_flag=True, help="Print the planned cases (runnable or skipped, with the reason); run nothing.")
@click.option("--only", "only", multiple=True, metavar="PATTERN",
              help="Run only cases whose name matches PATTERN (glob or substring); repeatable.")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=Path("results"), show_default=True,
              help="Directory that receives the result set: OUTPUT/<suite>/<run-id>/ (run.json and cases/).")
@click.option("--repeat", type=click.IntRange(min=1), default=1, show_default=True,
              help="Run every case N times, each in its own process, interleaved in rounds (A B A B ...); "
                   "compare's verdicts need 3 or more (see docs/statistics.md).")
@click.option("--label", "labels", multiple=True, metavar="KEY=VALUE",
              help="Record a label with the result set (repeatable), e.g. --label commit=abc123 --label "
                   "branch=main; 'dlrmbench history --by KEY' orders result sets by it.")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Override every case's timeout_s (seconds).")
@click.option("--quiet", is_flag=True, help="No live progress (bars on a terminal, timestamped lines in a log).")
@click.option("--progress-every", "progress_every", type=click.FloatRange(min=1), default=30.0, show_default=True,
              help="When stdout is not a terminal: seconds between progress lines of a running case.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the run summary as JSON (schema dlrmbench.run-summary, see the README) instead of tables.")
@click.option("--scale-down", "scale", is_flag=True,
              help="Run a reduced version of every case (tables capped at 20,000 rows, batch <= 512, 24 steps, "
                   "the CPU when there is no GPU); results are labelled not comparable with the reference.")
@click.option("--short", is_flag=True,
              help="LoadGen serving cases (serve.scenario) run for seconds (1 s minimum duration, few queries); "
                   "results are labelled not valid for submission and not comparable.")
@click.option("--dataset-path", "dataset_paths", type=click.Path(path_type=Path), multiple=True,
              help="Run on the preprocessed Criteo data in this directory (split or binary format) instead of "
                   "synthetic batches: each case takes the dataset whose model_size.json matches its table sizes "
                   "(repeat the option for the small and the large model). AUC is comparable only then.")
@click.option("--allow-synthetic", is_flag=True,
              help="Run even when a --dataset-path matches no case's table sizes (those cases use synthetic data); "
                   "without it that is an error.")
@click.option("--resume", "resume_dir", type=click.Path(path_type=Path), metavar="RUN_DIR",
              help="Finish the stopped run in RUN_DIR (results/<suite>/<run-id>): its finished cases are kept and "
                   "skipped, the others run into the same folder. Give the same options as that run; SUITE "
                   "defaults to the suite file it recorded.")
@click.option("--overwrite", is_flag=True,
              help="Let checkpoint.save and mlperf_log.path replace existing files that dlrmbench did not write.")
def run_command(suite: Path, dry_run: bool, only: tuple[str, ...], output: Path, repeat: int, labels: tuple[str, ...],
                timeout_s: float | None, quiet: bool, progress_every: float, as_json: bool, scale: bool,
                dataset_paths: tuple[Path, ...], allow_synthetic: bool, resume_dir: Path | None,
                overwrite: bool, short: bool = False) -> None:
    """Run the benchmark SUITE (a YAML file) and write results.

    Each case runs in its own worker process with a timeout. A case that cannot run here is
    skipped with the reason; a case that crashes, times out or is interrupted is recorded with what
    it measured. Ctrl-C, SIGTERM and SIGHUP keep every finished result, record the running case and
    exit 130, 143 and 129.
    """
    console = Console(stderr=as_json)  # with --json, stdout holds only the JSON document
    label_map = parse_labels(labels)
    if suite is None:
        if resume_dir is None:
            raise click.UsageError("Missing argument 'SUITE' (a shipped suite's name or a YAML file).")
        from dlrmbench.runner.resume import read_manifest

        suite = Path(read_manifest(resume_dir).suite_file)
    loaded = load_suite(suite)
    cases = select(loaded.cases, only)
    if not cases:
        names = ", ".join(c.name for c in loaded.cases)
        raise UserError(f"--only {' '.join(only)}: no case of {suite} matches; cases are: {names}")
    if timeout_s is not None:  # recorded in each case's config, and quoted when a case times out
        cases = [c.model_copy(update={"timeout_s": timeout_s}) for c in cases]
    if not overwrite:
        from dlrmbench.runner.overwrite import overwrite_problems

        problems = overwrite_problems(cases)
        if problems:
            raise UserError("\n".join(problems))
    host = current_host()
    if scale or dataset_paths:
        from dlrmbench.config.variants import apply_variants

        cases, notes = apply_variants(cases, host, scale=scale, dataset_paths=dataset_paths, registry=get_registry(),
                                      allow_synthetic=allow_synthetic)
        for note in notes:
            console.print(f"[yellow]Note:[/] {note}")
    if short:
        from dlrmbench.config.variants import shorten

        cases = [shorten(c) for c in cases]
    planned = plan(cases, host, get_registry())
    from dlrmbench.runner.plan import plan_warnings

    for item in planned:
        for warning in plan_warnings(item.case, host) if item.runnable else []:
            console.print(Text("Warning: ", style="yellow") + Text(f"{item.case.name}: {warning}"), soft_wrap=True)
    if dry_run and as_json:
        from dlrmbench.report.jsonout import plan_document

        click.echo(plan_document(loaded.suite.name, suite, planned), nl=False)
        return
    resume = None
    if resume_dir is not None:
        from dlrmbench.runner.resume import load_resume

        resume = load_resume(resume_dir.resolve(), loaded, planned, repeat)
        console.print(Text(f"Resuming {resume_dir}: {len(resume.results)} finished case(s) kept."), soft_wrap=True)
    elif not dry_run:
        from dlrmbench.results.store import check_output_dir

        check_output_dir(output)
    if dry_run:
        from dlrmbench.report.memory_tables import print_memory_plans

        print_memory_plans(console, planned, host)
        print_plan(console, planned)
        runnable = sum(p.runnable for p in planned)
        console.print(f"{runnable} of {len(planned)} case(s) would run; nothing was run (--dry-run).")
        return
    from dlrmbench.report.progress import LIVE_RATE_NOTE, LogProgress, SuiteProgress
    from dlrmbench.report.terminal import print_run
    from dlrmbench.runner.execute import RunInterrupted, execute
    from dlrmbench.runner.signals import stop_requests
    from dlrmbench.telemetry.environment import fingerprint

    extra: dict = {}
    for info in get_manager().hook.environment_info():
        extra.update(info or {})
    environment = fingerprint(host, extra, plugins=get_registry().plugin_sources)
    from dlrmbench.machine.checks import machine_checks
    from dlrmbench.machine.variation import stored_for

    environment["machine_state"] = [f.as_dict() for f in machine_checks()]  # as `dlrmbench doctor` shows them
    stored = stored_for(environment["machine"])
    if stored is not None:
        environment["run_to_run"] = stored
    console.print(Text(loaded.suite.name, style="bold") + Text(f": {len(planned)} case(s), "
                                                               f"{sum(p.runnable for p in planned)} runnable here"))
    progress_view: Any
    if sys.stdout.isatty() and not as_json:
        progress_view = SuiteProgress(console, enabled=not quiet)
        if not quiet:
            console.print(Text(f"Progress: {LIVE_RATE_NOTE}.", style="dim"))
    else:  # a log: timestamped lines (on stderr with --json, so stdout stays one JSON document)
        progress_view = LogProgress((lambda line: click.echo(line, err=True)) if as_json else
                                    (lambda line: click.echo(line)), every_s=progress_every)
        if quiet:
            progress_view.write = lambda line: None
    try:
        with stop_requests(), progress_view as progress:
            report = execute(loaded, planned, output, environment, progress, repeat=repeat, timeout_s=timeout_s,
                             resume=resume, labels=label_map)
    except RunInterrupted as exc:
        console.print(Text("Stopped: ", style="magenta") + Text(f"{exc.reason}. Finished results are in {exc.run_dir}; "
                                                                  f"finish the run with --resume {exc.run_dir}"),
                      soft_wrap=True)
        sys.exit(exc.exit_code)
    if as_json:
        from dlrmbench.report.jsonout import run_summary
        from dlrmbench.report.terminal import print_noise
        from dlrmbench.results.noise import case_noise_lines

        print_noise(console, case_noise_lines(report.results))  # stderr
        click.echo(run_summary(loaded.suite.name, report.manifest.run_id, report.run_dir, report.manifest.status,
                               report.results), nl=False)
    else:
        print_run(console, f"{loaded.suite.name} — {report.manifest.run_id}", report.results)
        from dlrmbench.report.terminal import print_run_comparison

        print_run_comparison(console, report.run_dir, report.manifest, report.results)
        console.print(Text(f"Results: {report.run_dir}"), soft_wrap=True)
    bad = [r for r in report.results if r.status in ("failed", "timed_out")]
    if bad:
        raise click.exceptions.Exit(1)
