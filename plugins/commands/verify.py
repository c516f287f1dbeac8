"""``dlrmbench verify``: every backend x embedding x interaction against eager + multi_table, and
(fp32) ``dcnv2`` with multi-hot ids and Adagrad against a float64 computation.

The checking lives in :mod:`dlrmbench.verify`; this module parses options and renders the table.
"""

from __future__ import annotations

from typing import Any

import click

from dlrmbench import hookimpl


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.2e}"


def reasons_of(report: object) -> list[str]:
    """The distinct reasons of the checks that did not pass, in order of first appearance."""
    return list(dict.fromkeys(c.reason for c in report.checks if c.reason and c.status != "pass"))  # type: ignore[attr-defined]


def render(report: object, console: Any = None) -> None:
    """Print the verdicts as a table (stacked when it does not fit); each distinct reason once, numbered,
    under the table, and the rows refer to it by number."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from dlrmbench.report.terminal import fits, print_plain
    from dlrmbench.verify import VerifyReport

    assert isinstance(report, VerifyReport)
    s = report.settings
    dlrmv2 = ("; dcnv2: multi-hot ids, Adagrad steps, vs a float64 computation" if s.precision == "fp32" else "")
    title = (f"dlrmbench verify: {s.device}, {s.precision}, {s.steps} steps, batch {s.batch_size}; largest "
             f"relative difference vs eager + multi_table with SGD{dlrmv2} (tolerance {s.tolerance:g})")
    reasons = reasons_of(report)
    table = Table(title=Text(title), title_justify="left")
    for column in ("backend", "embedding", "interaction", "outputs", "losses", "parameters", "result"):
        table.add_column(column, no_wrap=True, justify="right" if column in ("outputs", "losses", "parameters") else "left")
    style = {"pass": "green", "fail": "red", "error": "red", "unavailable": "yellow"}
    rows = []
    for check in report.checks:
        c = check.combination
        result = {"fail": "FAIL", "error": "ERROR"}.get(check.status, check.status)
        if check.status == "fail" and check.worst_parameter:
            result += f" (worst parameter: {check.worst_parameter})"
        if check.reason and check.status != "pass":
            result += f" [reason {reasons.index(check.reason) + 1}]"
        rows.append((c.backend, c.embedding, c.interaction, _fmt(check.outputs), _fmt(check.losses),
                     _fmt(check.parameters), result, check.status))
        table.add_row(*(Text(v) for v in rows[-1][:6]), Text(result, style=style[check.status]))
    console = console or Console()
    if fits(console, table):
        console.print(table)
    else:
        lines = [title]
        for backend, embedding, interaction, outputs, losses, parameters, result, _ in rows:
            lines.append(f"- {backend} + {embedding} + {interaction}: {result}")
            if outputs:
                lines.append(f"    outputs {outputs}, losses {losses}, parameters {parameters}")
        print_plain(console, lines)
    if reasons:
        print_plain(console, ["Reasons:"] + [f"  [{i + 1}] {reason}" for i, reason in enumerate(reasons)])
    failed = [c for c in report.checks if c.failed]
    checked = [c for c in report.checks if c.status in ("pass", "fail", "error")]
    if failed:
        console.print(f"[red]{len(failed)} of {len(checked)} checked combinations failed.[/]")
    else:
        console.print(f"[green]All {len(checked)} checked combinations match the reference.[/]")


def to_json(report: object) -> str:
    """``dlrmbench.verify``: settings, verdict, the distinct reasons, and one record per combination."""
    from dataclasses import asdict, is_dataclass

    from dlrmbench.report.jsonout import document
    from dlrmbench.verify import dlrmv2_check

    reasons = reasons_of(report)
    settings = report.settings  # type: ignore[attr-defined]
    checks = []
    for check in report.checks:  # type: ignore[attr-defined]
        c = check.combination
        checks.append({"backend": c.backend, "embedding": c.embedding, "interaction": c.interaction,
                       "reference": "float64" if dlrmv2_check(settings, c) else "eager+multi_table",
                       "status": check.status, "outputs": check.outputs, "losses": check.losses,
                       "parameters": check.parameters, "worst_parameter": check.worst_parameter,
                       "reason": reasons.index(check.reason) if check.reason and check.status != "pass" else None})
    return document("dlrmbench.verify", settings={**(asdict(settings) if is_dataclass(settings) else {}),
                                                  "tolerance": settings.tolerance},
                    ok=report.ok, reasons=reasons, checks=checks)  # type: ignore[attr-defined]


@click.command("verify")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True,
              help="Where to run; on the CPU the Triton kernels run in Triton's interpreter.")
@click.option("--precision", type=click.Choice(["fp32", "amp", "bf16"]), default="fp32", show_default=True,
              help="fp32 (tolerance 1e-5), amp = float16 autocast (1e-2), bf16 (1e-2).")
@click.option("--steps", type=click.IntRange(min=1), default=3, show_default=True, help="Training steps per combination (SGD; Adagrad for dcnv2).")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON document (schema dlrmbench.verify, see the README) instead of the table.")
def verify_command(device: str, precision: str, steps: int, as_json: bool) -> None:
    """Check that every backend x embedding x interaction computes what eager + multi_table does.

    Builds each available combination on a small random DLRM with the same initial weights, trains
    it for a few steps on the same batches, and compares outputs, losses and updated parameters. In
    fp32, dcnv2 (DLRMv2) trains on multi-hot ids with Adagrad against a float64 computation.
    Exits with status 1 when any combination differs by more than the tolerance or crashes.
    """
    from dlrmbench.verify import VerifySettings, verify

    report = verify(VerifySettings(device=device, precision=precision, steps=steps))  # type: ignore[arg-type]
    if as_json:
        click.echo(to_json(report), nl=False)
    else:
        render(report)
    if not report.ok:
        raise SystemExit(1)


@hookimpl
def register_commands(cli: click.Group) -> None:
    cli.add_command(verify_command)
