"""``dlrmbench list-plugins``: every plugin, where it comes from, and whether it can run here."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from dlrmbench.errors import UserError, did_you_mean
from dlrmbench.host import current_host
from dlrmbench.plugins import get_registry
from dlrmbench.report.fit import print_table


@click.command("list-plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.option("--options", "options_of", metavar="NAME", help="Show the options schema of plugin NAME.")
def list_plugins_command(as_json: bool, options_of: str | None) -> None:
    """List every plugin (families, backends, embeddings, interactions, optimizers, datasets, topologies,
    telemetry sources): origin, the families it serves, availability here, and why not."""
    registry, host = get_registry(), current_host()
    if options_of:
        matches = [s for s in registry.all_specs() if s.name == options_of]
        if not matches:
            names = sorted({s.name for s in registry.all_specs()})
            raise UserError(f"no plugin named {options_of!r}{did_you_mean(options_of, names)}; "
                            f"known: {', '.join(names)}")
        schemas = {f"{s.kind}:{s.name}": s.options.model_json_schema() for s in matches}
        if as_json or len(schemas) > 1:
            click.echo(json.dumps(schemas if len(schemas) > 1 else next(iter(schemas.values())), indent=2))
        else:
            _print_options(matches[0])
        return
    rows = []
    for spec in registry.all_specs():
        reason = spec.availability(host)
        serves = f" (family: {', '.join(spec.families)})" if spec.families else ""
        rows.append({"kind": spec.kind, "name": spec.name, "summary": spec.summary + serves, "source": spec.source,
                     "available": reason is None, "reason": reason,
                     "families": list(spec.families) if spec.families else None})
    broken = [{"name": b.name, "source": b.source, "error": b.error} for b in registry.broken]
    if as_json:
        click.echo(json.dumps({"plugins": rows, "broken": broken}, indent=2))
        return
    table = Table(title="dlrmbench plugins", title_justify="left")
    for column in ("kind", "name", "from", "here", "summary / reason"):
        table.add_column(column, no_wrap=True)
    for row in rows:
        here = "[green]yes[/]" if row["available"] else "[yellow]no[/]"
        detail = row["summary"] if row["available"] else f"{row['summary']}\n[yellow]{row['reason']}[/]"
        table.add_row(row["kind"], row["name"], row["source"], here, detail)
    for item in broken:
        table.add_row("?", item["name"], item["source"], "[red]broken[/]", f"[red]{item['error']}[/]")
    lines = ["dlrmbench plugins"]
    for row in rows:
        lines.append(f"- {row['kind']} {row['name']} ({row['source']}): {'yes' if row['available'] else 'no'}")
        lines.append(f"    {row['summary']}")
        if not row["available"]:
            lines.append(f"    not here: {row['reason']}")
    for item in broken:
        lines.extend([f"- ? {item['name']} ({item['source']}): broken", f"    {item['error']}"])
    print_table(Console(), table, lines)


def _print_options(spec: object) -> None:
    from dlrmbench.plugin_api import PluginSpec

    assert isinstance(spec, PluginSpec)
    table = Table(title=f"{spec.kind} {spec.name}: options", title_justify="left")
    for column in ("option", "type", "default", "description"):
        table.add_column(column, no_wrap=True)
    schema = spec.options.model_json_schema()
    for name, field in spec.options.model_fields.items():
        prop = schema.get("properties", {}).get(name, {})
        kind = prop.get("type") or " | ".join(str(x.get("type", x.get("$ref", "?"))) for x in prop.get("anyOf", []))
        if "enum" in prop:
            kind = " | ".join(map(str, prop["enum"]))
        table.add_row(name, str(kind), repr(field.default) if not field.is_required() else "(required)",
                      field.description or "")
    if not spec.options.model_fields:
        table.add_row("(none)", "", "", "")
    print_table(Console(), table)
