"""`preprocess` click command (mounted by dlrmbench as `dlrmbench preprocess`; also `python -m preproc`)."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import click

from preproc.errors import PreprocError


@click.command(name="preprocess")
@click.argument("input_dir", metavar="INPUT", type=click.Path(path_type=Path, file_okay=False))
@click.argument("output_dir", metavar="OUTPUT", type=click.Path(path_type=Path))
@click.option("--frequency-threshold", type=int, default=15, show_default=True,
              help="Keep categorical values seen at least this often; rarer ones map to id 0.")
@click.option("--split", "split_rule", default="reference", show_default=True,
              help="reference (all files but the last = train, last file halved into test/validation), "
                   "fraction:TEST,VAL (hash of file+line), or files:TEST[+TEST..][:VAL[+VAL..]].")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the training-row shuffle.")
@click.option("--bad-lines", type=click.Choice(["fail", "skip"]), default="fail", show_default=True,
              help="Malformed input lines: stop with a report, or skip them (counted and reported).")
@click.option("--master", default=None, help="Spark master URL: local[N] (default local[*]) or spark://host:port.")
@click.option("--spark-conf", "spark_conf", multiple=True, metavar="KEY=VALUE",
              help="Extra Spark setting, repeatable (e.g. spark.driver.memory=8g, spark.local.dir=/scratch).")
@click.option("--skip-preflight", is_flag=True, help="Do not check disk and memory before starting.")
@click.option("--keep-work", is_flag=True, help="Keep OUTPUT/_work (intermediate counts and chunks) at the end.")
def preprocess(
    input_dir: Path,
    output_dir: Path,
    frequency_threshold: int,
    split_rule: str,
    seed: int,
    bad_lines: str,
    master: str | None,
    spark_conf: tuple[str, ...],
    skip_preflight: bool,
    keep_work: bool,
) -> None:
    """Turn raw Criteo click logs in INPUT into the split binary dataset in OUTPUT."""
    from preproc import stop

    try:
        with stop.stop_on_signals():
            try:
                _run(input_dir, output_dir, frequency_threshold, split_rule, seed, bad_lines, master, spark_conf,
                     skip_preflight, keep_work)
            except KeyboardInterrupt:  # Ctrl-C (PySpark's own handler cancels the jobs and raises this)
                raise stop.Stopped(signal.SIGINT) from None
            stop.check()  # a stop after the last stage: the run is complete, say so the same way
    except stop.Stopped as stopped:
        click.echo(stop.stop_message(output_dir, stopped.signum), err=True)
        sys.exit(128 + stopped.signum)
    except PreprocError as exc:
        raise click.ClickException(str(exc)) from None


def _run(input_dir: Path, output_dir: Path, frequency_threshold: int, split_rule: str, seed: int, bad_lines: str,
         master: str | None, spark_conf: tuple[str, ...], skip_preflight: bool, keep_work: bool) -> None:
    """Validate the options and run (or resume) the pipeline."""
    from preproc.options import PreprocOptions, parse_split
    from preproc.pipeline import run
    from preproc.session import parse_conf

    opts = PreprocOptions(
        input_dir=input_dir,
        output_dir=output_dir,
        frequency_threshold=frequency_threshold,
        split=parse_split(split_rule),
        seed=seed,
        bad_lines=bad_lines,
        keep_work=keep_work,
    )
    conf = parse_conf(spark_conf)
    run(opts, master=master, spark_conf=conf, echo=lambda m: click.echo(m, err=True),
        skip_preflight=skip_preflight)
