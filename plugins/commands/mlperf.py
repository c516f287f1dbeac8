"""``dlrmbench mlperf package RESULTS OUT``: an MLPerf Training submission tree for ``dlrm_dcnv2``;
``dlrmbench mlperf rcp RUNS...``: the MLCommons RCP checker's verdict on a set of runs."""

from __future__ import annotations

from pathlib import Path

import click

from dlrmbench import hookimpl


@click.group("mlperf")
def mlperf_group() -> None:
    """MLPerf Training artefacts (dlrm_dcnv2)."""


@mlperf_group.command("package")
@click.argument("results", type=click.Path(path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--org", help="Submitting organisation (replaces the logs' submission_org; names OUT/<org>).")
@click.option("--system", help="System name (replaces the logs' submission_platform; names the system JSON).")
@click.option("--allow-invalid", is_flag=True,
              help="Write the tree even from scaled-down, failed or aborted runs (to test tooling; never submit it).")
def package_command(results: Path, out: Path, org: str | None, system: str | None, allow_invalid: bool) -> None:
    """Write OUT/<org>/{systems,results} from the 10 dlrm_dcnv2 MLPerf logs of the result set RESULTS.

    Refuses runs that were scaled down, did not end ok or stopped without reaching the quality target
    (the official package checker accepts such logs), then prints the RCP checker's verdict on the runs
    (as dlrmbench mlperf rcp). Check the tree with:
    python -m mlperf_logging.package_checker OUT/<org> training 6.0.0
    """
    from dlrmbench.mlperf.package import write_package

    root = write_package(results, out, org=org, system=system, allow_invalid=allow_invalid)
    click.echo(f"wrote {root} (check: python -m mlperf_logging.package_checker {root} training 6.0.0)")
    _echo_rcp_verdict([results])


def _echo_rcp_verdict(runs: list[Path]) -> None:
    """The RCP checker's verdict on the packaged runs (the package checker runs it too, for closed results)."""
    from importlib.util import find_spec

    if find_spec("mlperf_logging") is None:
        click.echo("RCP check not run: mlperf-logging is not installed (pip install 'dlrmbench[mlperf]')")
        return
    from dlrmbench.mlperf.rcp import check_rcp, gather_logs

    for line in check_rcp(gather_logs(runs)).lines():
        click.echo(line)


@mlperf_group.command("rcp")
@click.argument("runs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--ruleset", default="6.0.0", show_default=True,
              help="mlperf-logging training ruleset (3.0.0 to 6.0.0 list dlrm_dcnv2; 6.1.0 does not).")
def rcp_command(runs: tuple[Path, ...], ruleset: str) -> None:
    """Run mlperf-logging's RCP checker over the dlrm_dcnv2 MLPerf logs of RUNS (result-set folders or log
    files) and print its verdict. Exits 0 only when the checker passes on at least the 10 runs a dlrm_dcnv2
    result needs; with fewer, convergence is not claimed whatever the checker says.
    """
    from dlrmbench.mlperf.rcp import check_rcp, gather_logs

    verdict = check_rcp(gather_logs(list(runs)), ruleset)
    for line in verdict.lines():
        click.echo(line)
    if not verdict.converged:
        raise SystemExit(1)


@hookimpl
def register_commands(cli: click.Group) -> None:
    cli.add_command(mlperf_group)
