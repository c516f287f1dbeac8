"""``dlrmbench verify``: every backend x embedding x interaction against eager + multi_table.

The checking lives in :mod:`dlrmbench.verify`; this module parses options and renders the table.
"""

from __future__ import annotations

import click

from dlrmbench import hookimpl


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.2e}"


def render(report: object) -> None:
    """Print the verdicts as a rich table, unavailable combinations with their reason."""
    from rich.console import Console
    from rich.table import Table

    from dlrmbench.verify import VerifyReport

    assert isinstance(report, VerifyReport)
    s = report.settings
    table = Table(
        title=f"dlrmbench verify: {s.device}, {s.precision}, {s.steps} SGD steps, batch {s.batch_size}; "
              f"largest relative difference vs eager + multi_table (tolerance {s.tolerance:g})",
        title_justify="left",
    )
    for column in ("backend", "embedding", "interaction", "outputs", "losses", "parameters", "result"):
        table.add_column(column, overflow="fold", justify="right" if column in ("outputs", "losses", "parameters") else "left")
    style = {"pass": "[green]pass[/]", "fail": "[red]FAIL[/]", "error": "[red]ERROR[/]", "unavailable": "[yellow]unavailable[/]"}
    for check in report.checks:
        c = check.combination
        result = style[check.status]
        if check.status == "fail" and check.worst_parameter:
            result += f" (worst parameter: {check.worst_parameter})"
        if check.reason and check.status != "pass":
            result += f"\n{check.reason}"
        table.add_row(c.backend, c.embedding, c.interaction, _fmt(check.outputs), _fmt(check.losses),
                      _fmt(check.parameters), result)
    console = Console()
    console.print(table)
    failed = [c for c in report.checks if c.failed]
    checked = [c for c in report.checks if c.status in ("pass", "fail", "error")]
    if failed:
        console.print(f"[red]{len(failed)} of {len(checked)} checked combinations failed.[/]")
    else:
        console.print(f"[green]All {len(checked)} checked combinations match the reference.[/]")


@click.command("verify")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True,
              help="Where to run; on the CPU the Triton kernels run in Triton's interpreter.")
@click.option("--precision", type=click.Choice(["fp32", "amp", "bf16"]), default="fp32", show_default=True,
              help="fp32 (tolerance 1e-5), amp = float16 autocast (1e-2), bf16 (1e-2).")
@click.option("--steps", type=click.IntRange(min=1), default=3, show_default=True, help="SGD steps per combination.")
def verify_command(device: str, precision: str, steps: int) -> None:
    """Check that every backend x embedding x interaction computes what eager + multi_table does.

    Builds each available combination on a small random DLRM with the same initial weights, trains
    it for a few steps on the same batches, and compares outputs, losses and updated parameters.
    Exits with status 1 when any combination differs by more than the tolerance or crashes.
    """
    from dlrmbench.verify import VerifySettings, verify

    report = verify(VerifySettings(device=device, precision=precision, steps=steps))  # type: ignore[arg-type]
    render(report)
    if not report.ok:
        raise SystemExit(1)


@hookimpl
def register_commands(cli: click.Group) -> None:
    cli.add_command(verify_command)
