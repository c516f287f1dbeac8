"""MkDocs hook: the reference pages' generated parts, made from the code at every build.

A page holds a marker such as ``<!-- reference: cli -->``; :func:`on_page_markdown` replaces it with
the Markdown that :data:`GENERATORS` makes: every command's ``--help`` (click), the suite and result
fields (pydantic models, their types, defaults and descriptions), the plugin contract (hook specs and
interfaces with their signatures and docstrings), each built-in plugin's options and the metric
vocabulary. Nothing here is written by hand, so the pages cannot drift from the code; the tests call
the same functions (tests/newcomer/test_docs.py).
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from typing import Any, Callable

MARKER = re.compile(r"<!-- reference: ([a-z-]+) -->")


def _escape(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


# --- the command line ------------------------------------------------------------------------


def command_paths(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command path of the CLI (groups included), in the order ``--help`` lists them."""
    import click

    ctx = click.Context(group)
    found: list[tuple[str, ...]] = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        found.append(prefix + (name,))
        if isinstance(command, click.Group):
            found.extend(command_paths(command, prefix + (name,)))
    return found


def help_text(args: tuple[str, ...], width: int = 100) -> str:
    """``dlrmbench ARGS --help`` as a user sees it at ``width`` columns."""
    from click.testing import CliRunner

    from dlrmbench.cli import make_cli

    result = CliRunner().invoke(make_cli(), [*args, "--help"], env={"COLUMNS": str(width)}, terminal_width=width)
    if result.exit_code != 0:
        raise RuntimeError(f"dlrmbench {' '.join(args)} --help failed: {result.output}")
    return result.output.rstrip()


def cli_reference() -> str:
    from dlrmbench.cli import make_cli

    parts = ["## dlrmbench", "", "```text", help_text(()), "```", ""]
    for path in command_paths(make_cli()):
        parts += [f"{'#' * min(2 + len(path), 4)} dlrmbench {' '.join(path)}", "", "```text", help_text(path), "```", ""]
    return "\n".join(parts)


# --- pydantic models ---------------------------------------------------------------------------


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return " \\| ".join(repr(a).replace("'", "") for a in args)
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(_type_name(a) for a in args)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin is not None:
        inner = ", ".join(_type_name(a) for a in args)
        return f"{getattr(origin, '__name__', str(origin))}[{inner}]"
    if annotation is type(None):
        return "null"
    name = getattr(annotation, "__name__", str(annotation))
    return {"PositiveInt": "int > 0", "PositiveFloat": "float > 0"}.get(name, name)


def _default(field: Any) -> str:
    from pydantic import BaseModel

    if field.is_required():
        return "(required)"
    if field.default_factory is not None:
        try:
            value = field.default_factory()
        except TypeError:
            return "(computed)"
        return "(see below)" if isinstance(value, BaseModel) else f"`{value!r}`"
    return f"`{field.default!r}`"


def _nested_models(annotation: Any) -> list[type]:
    from pydantic import BaseModel

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in typing.get_args(annotation) for model in _nested_models(arg)]


def _default_model(field: Any) -> list[type]:
    """The model class of a field typed loosely (``model:``, whose family decides its model) but whose default
    is a model: the default family's configuration."""
    from pydantic import BaseModel

    if field.default_factory is None:
        return []
    try:
        value = field.default_factory()
    except TypeError:
        return []
    return [type(value)] if isinstance(value, BaseModel) else []


def model_reference(root: type, title: str, prefix: str = "") -> str:
    """A table per model (field, type, default, description), the root first, then each nested model
    under its dotted path (``model.``, ``inference.``) as a suite writes it."""
    seen: set[type] = set()
    parts: list[str] = []
    queue: list[tuple[type, str]] = [(root, prefix)]
    while queue:
        model, path = queue.pop(0)
        if model in seen:
            continue
        seen.add(model)
        heading = f"`{path.rstrip('.')}`: {model.__name__}" if path else title
        parts += [f"### {heading}", ""]
        doc = inspect.getdoc(model)
        if doc and doc != inspect.getdoc(model.__mro__[1]):
            parts += [_escape(doc.split("\n\n")[0]), ""]
        parts += ["| field | type | default | description |", "|---|---|---|---|"]
        for name, field in model.model_fields.items():
            parts.append(f"| `{path}{name}` | {_type_name(field.annotation)} | {_escape(_default(field))} | "
                         f"{_escape(field.description or '')} |")
            nested = _nested_models(field.annotation) or _default_model(field)
            queue.extend((model, f"{path}{name}.") for model in nested)
        parts.append("")
    return "\n".join(parts)


def suite_reference() -> str:
    from dlrmbench.config.schema import Case, Suite

    return "\n".join([
        "## The suite file", "", model_reference(Suite, "Suite (top level)"),
        "## A case", "",
        "Every key below may appear in a case or in `defaults` (deep-merged into every case); a case's `matrix` "
        "expands a dotted key over a list of values.", "",
        model_reference(Case, "Case"),
    ])


def plugin_options_reference() -> str:
    from dlrmbench.plugins import get_registry

    parts: list[str] = []
    for spec in sorted(get_registry().all_specs(), key=lambda s: (s.kind, s.name)):
        parts += [f"### {spec.kind} `{spec.name}`", "", _escape(spec.summary), ""]
        fields = spec.options.model_fields
        if not fields:
            parts += ["No options.", ""]
            continue
        parts += ["| option | type | default | description |", "|---|---|---|---|"]
        for name, field in fields.items():
            parts.append(f"| `{name}` | {_type_name(field.annotation)} | {_escape(_default(field))} | "
                         f"{_escape(field.description or '')} |")
        parts.append("")
    return "\n".join(parts)


def result_reference() -> str:
    from dlrmbench.results.metrics import VOCABULARY
    from dlrmbench.results.schema import SCHEMA_VERSION, CaseResult, Metric, RunManifest

    parts = [f"Result schema version {SCHEMA_VERSION}.", "",
             "## `run.json`", "", model_reference(RunManifest, "RunManifest"),
             "## `cases/<case>.json`", "", model_reference(CaseResult, "CaseResult"),
             "## A metric", "", model_reference(Metric, "Metric"),
             "## The metric vocabulary", "",
             "| name | unit | higher is better | per batch size | description |", "|---|---|---|---|---|"]
    for row in VOCABULARY.values():
        better = {True: "yes", False: "no", None: "—"}[row.higher_is_better]
        parts.append(f"| `{row.name}` | {row.unit or '—'} | {better} | {'yes' if row.per_batch_size else ''} | "
                     f"{_escape(row.description)} |")
    return "\n".join(parts) + "\n"


# --- the plugin contract ------------------------------------------------------------------------


def _signature(function: Callable[..., Any]) -> str:
    return str(inspect.signature(function)).replace("'", "")


def _docstring(function: Callable[..., Any]) -> str:
    """The function's docstring as the indented body of its ``def`` line (``...`` when it has none)."""
    doc = inspect.getdoc(function)
    if not doc:
        return "    ..."
    return "\n".join(f"    {line}".rstrip() for line in ['"""' + doc.split("\n")[0], *doc.split("\n")[1:], '"""'])


def _indent(text: str) -> str:
    return "\n".join(f"    {line}".rstrip() for line in text.split("\n"))


def contract_reference() -> str:
    from dlrmbench import hookspecs, plugin_api

    parts = ["## Hooks", "", _escape((inspect.getdoc(hookspecs) or "").split("\n\n")[0]), ""]
    for name, function in inspect.getmembers(hookspecs, inspect.isfunction):
        if function.__module__ != hookspecs.__name__:
            continue
        parts += [f"### `{name}`", "", "```python", f"def {name}{_signature(function)}:", _docstring(function),
                  "```", ""]
    parts += ["## Types", "", _escape((inspect.getdoc(plugin_api) or "").split("\n\n")[0]), ""]
    for name, cls in inspect.getmembers(plugin_api, inspect.isclass):
        if cls.__module__ != plugin_api.__name__ or name.startswith("_"):
            continue
        methods = [(n, m) for n, m in vars(cls).items()
                   if callable(m) and (not n.startswith("_") or n == "__call__") and n != "model_post_init"]
        body = [_docstring(cls)] + [_indent(f"def {n}{_signature(m)}:\n{_docstring(m)}") for n, m in methods]
        parts += [f"### `{name}`", "", "```python", f"class {name}:", "\n\n".join(body), "```", ""]
    return "\n".join(parts)


GENERATORS: dict[str, Callable[[], str]] = {
    "cli": cli_reference,
    "suite-schema": suite_reference,
    "plugin-options": plugin_options_reference,
    "result-schema": result_reference,
    "plugin-contract": contract_reference,
}


def expand(markdown: str) -> str:
    """``markdown`` with every reference marker replaced by its generated text."""
    return MARKER.sub(lambda m: GENERATORS[m.group(1)](), markdown)


def on_page_markdown(markdown: str, **_: Any) -> str:
    return expand(markdown)
