"""``dlrmbench plan SUITE``: the memory plan of every case, per device, and whether it can run here.

Also installs the hybrid-parallel launcher and the memory planner's check (no torch import).
"""

from __future__ import annotations

from pathlib import Path

import click

from dlrmbench import hookimpl


@click.command("plan")
@click.argument("suite", type=click.Path(path_type=Path))
@click.option("--only", "only", multiple=True, metavar="PATTERN", help="Only cases matching PATTERN; repeatable.")
def plan_command(suite: Path, only: tuple[str, ...]) -> None:
    """Show, per case and per device, the tables placed there and the bytes of tables, optimizer state,
    gradients and activations for the batch size, against the device's memory; and the plan verdict
    (run, or skip with the reason). Runs nothing.
    """
    from rich.console import Console

    from dlrmbench.cli.run import plan_table
    from dlrmbench.config.loader import load_suite
    from dlrmbench.distributed.launch import install
    from dlrmbench.distributed.render import print_memory_plans
    from dlrmbench.errors import UserError
    from dlrmbench.host import current_host
    from dlrmbench.plugins import get_registry
    from dlrmbench.runner.plan import plan, select

    install()
    console = Console()
    loaded = load_suite(suite)
    cases = select(loaded.cases, only)
    if not cases:
        raise UserError(f"--only {' '.join(only)}: no case of {suite} matches")
    host = current_host()
    planned = plan(cases, host, get_registry())
    print_memory_plans(console, planned, host, every_case=True)
    console.print(plan_table(planned))


@hookimpl
def register_commands(cli: click.Group) -> None:
    from dlrmbench.distributed.launch import install

    install()
    cli.add_command(plan_command)
