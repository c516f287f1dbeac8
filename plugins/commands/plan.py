"""``dlrmbench plan SUITE``: the memory plan of every case, per device, the per-table sharding plan of a
topology with its own planner (TorchRec's, for ``torchrec_dmp``), and whether each case can run here.

The memory planner is the one the runner uses (no torch import); only a case whose topology declares a
``table_plan`` imports what that plan needs (torch and torchrec for ``torchrec_dmp``).
"""

from __future__ import annotations

from pathlib import Path

import click

from dlrmbench import hookimpl


@click.command("plan")
@click.argument("suite", type=click.Path(path_type=Path))
@click.option("--only", "only", multiple=True, metavar="PATTERN", help="Only cases matching PATTERN; repeatable.")
@click.option("--case-files", type=click.Path(path_type=Path), default=None, metavar="DIR",
              help="Write each multi-process case's resolved case (what a worker reads) as DIR/<case>.json and print the torchrun command that runs it "
                   "over several nodes (run that command on every node).")
@click.option("--nodes", type=click.IntRange(min=1), default=1, show_default=True,
              help="Nodes for the printed multi-node command (the case's gpus/processes is the world size).")
@click.option("--json", "as_json", is_flag=True,
              help="Print the plan as one JSON document (schema dlrmbench.plan, see the README).")
def plan_command(suite: Path, only: tuple[str, ...], case_files: Path | None, nodes: int, as_json: bool) -> None:
    """Show, per case and per device, the tables placed there and the bytes of tables, optimizer state,
    gradients and activations for the batch size, against the device's memory; for torchrec_dmp cases,
    each table's sharding type and ranks as TorchRec's planner chooses them; and the plan verdict (run, or
    skip with the reason). Runs nothing.
    """
    from rich.console import Console

    from dlrmbench.cli.run import print_plan
    from dlrmbench.config.loader import load_suite
    from dlrmbench.report.memory_tables import print_memory_plans
    from dlrmbench.errors import UserError
    from dlrmbench.host import current_host
    from dlrmbench.plugins import get_registry
    from dlrmbench.runner.plan import plan, select

    console = Console(stderr=as_json)
    loaded = load_suite(suite)
    cases = select(loaded.cases, only)
    if not cases:
        raise UserError(f"--only {' '.join(only)}: no case of {suite} matches")
    host = current_host()
    planned = plan(cases, host, get_registry())
    from dlrmbench.report.sharding_tables import print_sharding_plans, table_plans

    sharding = table_plans(planned, get_registry())
    if as_json:
        from dlrmbench.report.jsonout import plan_document

        click.echo(plan_document(loaded.suite.name, suite, planned, sharding), nl=False)
    else:
        print_memory_plans(console, planned, host, every_case=True)
        print_sharding_plans(console, planned, sharding)
        print_plan(console, planned)
    if case_files is not None:
        _write_case_files(console, [p.resolved for p in planned], case_files, nodes)


def _write_case_files(console: object, resolved_cases: list, directory: Path, nodes: int) -> None:
    """Write each multi-process case's ResolvedCase (the file every rank's worker reads) and print its
    multi-node torchrun command."""
    import shlex

    from dlrmbench.resolved import write_resolved_case

    from dlrmbench.distributed.launch import multinode_command
    from dlrmbench.errors import UserError
    from dlrmbench.results.store import atomic_write_text

    for resolved in resolved_cases:
        case = resolved.case
        if case.world_size <= 1:
            continue
        if case.world_size % nodes:
            raise UserError(f"--nodes {nodes}: case {case.name} has {case.world_size} ranks, not a multiple of {nodes}")
        path = directory / f"{case.name}.json"
        atomic_write_text(path, write_resolved_case(resolved, indent=2))
        command = multinode_command(str(path), nodes, case.world_size // nodes, "HOST0:29500", case.name)
        console.print(f"{case.name}: on each of the {nodes} node(s), with HOST0 the first node's address:\n  "  # type: ignore[attr-defined]
                      + shlex.join(command), soft_wrap=True)


@hookimpl
def register_commands(cli: click.Group) -> None:
    cli.add_command(plan_command)
