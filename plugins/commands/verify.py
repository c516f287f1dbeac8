"""``dlrmbench verify``: every workload family's own check that its implementations compute the same
function (the DLRM family: every backend x embedding x interaction against eager + multi_table, and
(fp32) ``dcnv2`` with multi-hot ids and Adagrad against a float64 computation).

Each family's spec names its check (``PluginSpec.verify``); this module parses options and prints each
family's report.
"""

from __future__ import annotations

import click

from dlrmbench import hookimpl


@click.command("verify")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True,
              help="Where to run; on the CPU the Triton kernels run in Triton's interpreter.")
@click.option("--precision", type=click.Choice(["fp32", "amp", "bf16"]), default="fp32", show_default=True,
              help="fp32 (tolerance 1e-5), amp = float16 autocast (1e-2), bf16 (1e-2).")
@click.option("--steps", type=click.IntRange(min=1), default=3, show_default=True, help="Training steps per combination (SGD; Adagrad for dcnv2).")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON document (schema dlrmbench.verify, see the README) instead of the table.")
@click.option("--family", default=None, help="Verify this workload family only (default: every family that "
              "declares a check).")
def verify_command(device: str, precision: str, steps: int, as_json: bool, family: str | None) -> None:
    """Check that every implementation of each workload family computes the same function.

    DLRM: builds each available backend x embedding x interaction on a small random model with the same
    initial weights, trains it for a few steps on the same batches, and compares outputs, losses and
    updated parameters with eager + multi_table. In fp32, dcnv2 (DLRMv2) trains on multi-hot ids with
    Adagrad against a float64 computation. Other families check what their spec declares.
    Exits with status 1 when any check differs by more than the tolerance or crashes.
    """
    import json

    from dlrmbench.errors import UserError
    from dlrmbench.plugins import get_registry
    from dlrmbench.resolved import import_object

    registry = get_registry()
    specs = [registry.get("family", family)] if family else \
        [s for s in registry.specs["family"].values() if s.verify is not None]
    if family and specs[0].verify is None:
        raise UserError(f"--family {family}: this family declares no verification")
    reports = [(spec.name, import_object(spec.verify)(device, precision, steps)) for spec in specs]  # type: ignore[arg-type]
    if as_json:
        if len(reports) == 1:
            click.echo(reports[0][1].document(), nl=False)
        else:
            click.echo(json.dumps({"schema": "dlrmbench.verify.families", "ok": all(r.ok for _, r in reports),
                                   "families": {name: json.loads(r.document()) for name, r in reports}}, indent=2))
    else:
        for _, report in reports:
            report.render()
    if not all(report.ok for _, report in reports):
        raise SystemExit(1)


@hookimpl
def register_commands(cli: click.Group) -> None:
    cli.add_command(verify_command)
