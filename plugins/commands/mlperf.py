"""``dlrmbench mlperf package RESULTS OUT``: an MLPerf Training submission tree for ``dlrm_dcnv2``."""

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
    (the official package checker accepts such logs). Check the tree with:
    python -m mlperf_logging.package_checker OUT/<org> training 5.0.0
    """
    from dlrmbench.mlperf.package import write_package

    root = write_package(results, out, org=org, system=system, allow_invalid=allow_invalid)
    click.echo(f"wrote {root} (check: python -m mlperf_logging.package_checker {root} training 5.0.0)")


@hookimpl
def register_commands(cli: click.Group) -> None:
    cli.add_command(mlperf_group)
