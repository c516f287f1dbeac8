"""Load a suite from YAML: safe parsing, defaults, matrix expansion, located validation errors.

Errors name the file, the line and the path of the field (``cases[2].batch_size``), say what
is wrong, and list the valid choices. Loading never runs anything and never imports torch.
"""

from __future__ import annotations

import copy
import itertools
import math
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from dlrmbench.config.schema import Case, Suite
from dlrmbench.errors import UserError, did_you_mean
from dlrmbench.plugin_api import MODEL_KINDS

Path_ = tuple[str | int, ...]


@dataclass
class LoadedSuite:
    """A validated suite and its expanded cases (in file order)."""

    suite: Suite
    cases: list[Case]
    path: Path
    origins: list[int] = field(default_factory=list)  # index of the template each case came from


class SuiteError(UserError):
    """One or more problems in a suite file, each a located line."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{path}: invalid suite ({len(problems)} problem{'s' * (len(problems) != 1)}):\n{lines}")
        self.problems = problems


def _line_map(node: yaml.Node, path: Path_ = ()) -> dict[Path_, int]:
    """Map every key path in a composed YAML document to its 1-based line."""
    lines = {path: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = path + (str(key.value),)
            lines.update(_line_map(value, child))
            lines[child] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines.update(_line_map(item, path + (i,)))
    return lines


def format_path(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# libyaml's parser when PyYAML was built with it (10-20x faster: a hostile 1 MiB file is refused in
# a fraction of a second), else the pure-Python one; construction is the safe constructor either way.
_SafeBase: type = getattr(yaml, "CSafeLoader", None) if yaml.__with_libyaml__ else None  # type: ignore[assignment]
if _SafeBase is None:
    _SafeBase = yaml.SafeLoader


class SuiteLoader(_SafeBase):  # type: ignore[misc, valid-type]
    """The safe loader with YAML 1.2 booleans: only true/false are booleans, so keys and values
    such as ``on: disk`` (a dataset option) or ``country: no`` stay strings, as written."""


SuiteLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
SuiteLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


# Limits on a suite file, so that hostile input is refused quickly and in bounded memory. A real
# suite is a few kilobytes, nests a handful of levels and expands to tens of cases.
MAX_SUITE_BYTES = 1 << 20  # 1 MiB
MAX_DEPTH = 64  # nesting of mappings and sequences
MAX_NODES = 50_000  # YAML nodes after expanding aliases (an alias bomb expands exponentially)
MAX_CASES = 10_000  # cases after matrix expansion
MAX_EXPANDED_VALUES = 2_000_000  # values in all expanded cases together (cases x values per case)


def _count_values(data: Any) -> int:
    """How many values ``data`` holds, containers included (iterative: depth is already bounded)."""
    count, stack = 0, [data]
    while stack:
        value = stack.pop()
        count += 1
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return count


def _decode(path: Path, raw: bytes) -> str:
    """UTF-8 text of ``raw``; a bad byte is refused with its line and column."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise UserError(f"{path}:{line}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {column}); "
                        "save the suite as UTF-8") from None


def _check_shape(path: Path, text: str) -> None:
    """Refuse nesting deeper than MAX_DEPTH and more than MAX_NODES values from the event stream,
    before anything recursive or expanding runs."""
    depth = 0
    for count, event in enumerate(yaml.parse(text, Loader=SuiteLoader)):
        if count > MAX_NODES:  # written out, before any alias is expanded
            raise UserError(f"{path}:{event.start_mark.line + 1}: holds more than {MAX_NODES:,} values; "
                            "a suite needs far fewer")
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                line = event.start_mark.line + 1
                raise UserError(f"{path}:{line}: nested more than {MAX_DEPTH} levels deep; a suite needs a few")
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1


def _check_nodes(path: Path, root: yaml.Node) -> None:
    """Refuse a document that expands to more than MAX_NODES nodes (aliases counted at each use),
    and duplicate keys in any mapping (YAML would silently keep the last)."""
    expanded: dict[int, int] = {}
    checked: set[int] = set()

    def size(node: yaml.Node) -> int:
        # Iterative post-order with memoisation: an alias is the same node object, counted per use.
        stack: list[tuple[yaml.Node, bool]] = [(node, False)]
        while stack:
            current, done = stack.pop()
            key = id(current)
            if key in expanded:
                continue
            children = _children(current)
            if not done:
                stack.append((current, True))
                stack.extend((c, False) for c in children if id(c) not in expanded)
                continue
            total = 1 + sum(expanded[id(c)] for c in children)
            expanded[key] = total
            if total > MAX_NODES:
                line = current.start_mark.line + 1
                raise UserError(f"{path}:{line}: expands to more than {MAX_NODES:,} values (aliases counted "
                                "at each use: an alias bomb?); a suite needs far fewer")
            if isinstance(current, yaml.MappingNode) and key not in checked:
                checked.add(key)
                seen: dict[Any, int] = {}
                for k, _ in current.value:
                    if not isinstance(k, yaml.ScalarNode) or k.value == "<<":
                        continue
                    if k.value in seen:
                        raise UserError(
                            f"{path}:{k.start_mark.line + 1}: duplicate key {k.value!r} (first on line "
                            f"{seen[k.value]}); YAML would silently keep only the last, so remove one")
                    seen[k.value] = k.start_mark.line + 1
        return expanded[id(node)]

    size(root)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _non_finite(path: Path, data: Any, lines: dict[Path_, int]) -> None:
    """Refuse ``.inf`` and ``.nan``: no suite field takes them, and they would fail only at run time."""
    stack: list[tuple[Path_, Any]] = [((), data)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            line = _Locator(path, lines).line_of(where)
            at = f":{line}" if line else ""
            raise UserError(f"{path}{at}: {format_path(where) or 'value'}: {value!r} is not a finite number; "
                            "give a finite value")
        if isinstance(value, dict):
            stack.extend((where + (str(k),), v) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((where + (i,), v) for i, v in enumerate(value))


def read_yaml(path: Path) -> tuple[Any, dict[Path_, int]]:
    """Parse ``path`` with the safe loader (no object construction) and map paths to lines.

    Refuses, each within a fraction of a second and in bounded memory: a file over
    MAX_SUITE_BYTES, bytes that are not UTF-8, nesting deeper than MAX_DEPTH, more than MAX_NODES
    values after alias expansion, duplicate keys and non-finite numbers (``.inf``, ``.nan``).
    """
    if not path.exists():
        from dlrmbench.config.catalog import shipped_suites

        names = list(shipped_suites())
        hint = did_you_mean(path.stem, names) if names else ""
        shipped = f"; shipped suites, by name: {', '.join(names)} (`dlrmbench suites`)" if names else ""
        raise UserError(f"{path}: no such suite file{hint} (check the path{shipped})")
    if path.is_dir():
        raise UserError(f"{path}: is a directory; give a suite file such as suites/quickstart.yaml")
    if not path.is_file():
        raise UserError(f"{path}: not a regular file; give a suite file such as suites/quickstart.yaml")
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_SUITE_BYTES + 1)
    except OSError as exc:
        raise UserError(f"{path}: cannot read the suite file: {exc.strerror or exc}") from None
    if len(raw) > MAX_SUITE_BYTES:
        raise UserError(f"{path}: larger than {MAX_SUITE_BYTES // 1024} KiB; a suite file is a few kilobytes "
                        "(is this the right file?)")
    text = _decode(path, raw)
    try:
        _check_shape(path, text)
        loader = SuiteLoader(text)
        try:
            node = loader.get_single_node()
            if node is not None:
                _check_nodes(path, node)
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise UserError(f"{path}{where}: not valid YAML: {problem}") from None
    lines = _line_map(node) if node is not None else {}
    _non_finite(path, data, lines)
    return data, lines


class _Locator:
    """Turns a path inside a case into the best YAML location for an error message."""

    def __init__(self, path: Path, lines: dict[Path_, int]) -> None:
        self.path, self.lines = path, lines

    def line_of(self, yaml_path: Path_) -> int | None:
        for end in range(len(yaml_path), 0, -1):
            if yaml_path[:end] in self.lines:
                return self.lines[yaml_path[:end]]
        return None

    def message(self, yaml_path: Path_, text: str) -> str:
        line = self.line_of(yaml_path)
        where = f"line {line}: " if line else ""
        return f"{where}{format_path(yaml_path)}: {text}"


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key not in ("options",):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _set_dotted(target: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    for part in parts[:-1]:
        child = target.get(part)
        if isinstance(child, str) and part in ("backend", "embedding", "dataset"):
            child = {"name": child}
        if not isinstance(child, dict):
            child = {}
        target[part] = child
        target = child
    target[parts[-1]] = value


def _valid_matrix_key(dotted: str) -> str | None:
    """Return None if ``dotted`` names a case field, else a message with the choices."""
    model: type[BaseModel] | None = Case
    parts = dotted.split(".")
    for i, part in enumerate(parts):
        if model is None:
            return None  # inside a free-form dict (plugin options): accepted, checked later
        fields = model.model_fields
        if part not in fields:
            return f"unknown field {part!r}{did_you_mean(part, list(fields))}; choose one of: {', '.join(fields)}"
        annotation = fields[part].annotation
        model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
        if model is not None and model.__name__ == "PluginRef" and i + 1 < len(parts) and parts[i + 1] == "options":
            return None
    return None


def _matrix_label(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("name", "x"))
    if isinstance(value, list):
        return "-".join(str(v) for v in value)
    return str(value)


def _expand(index: int, template: dict[str, Any], defaults: dict[str, Any], loc: _Locator) -> tuple[list[dict], list[str]]:
    problems: list[str] = []
    base_path: Path_ = ("cases", index)
    if not isinstance(template, dict):
        return [], [loc.message(base_path, "each case must be a mapping with at least a name")]
    template = dict(template)
    matrix = template.pop("matrix", None) or {}
    if not isinstance(matrix, dict):
        return [], [loc.message(base_path + ("matrix",), "must map field names to lists of values")]
    axes: list[tuple[str, list[Any]]] = []
    for key, values in matrix.items():
        key_path = base_path + ("matrix", key)
        bad_key = _valid_matrix_key(str(key))
        if bad_key:
            problems.append(loc.message(key_path, bad_key))
            continue
        if not isinstance(values, list):
            problems.append(loc.message(key_path, f"must be a list of values, got {values!r}"))
            continue
        if not values:
            problems.append(loc.message(key_path, "empty list: give at least one value (or drop the key)"))
            continue
        axes.append((str(key), values))
    if problems:
        return [], problems
    count = math.prod(len(values) for _, values in axes)
    if count > MAX_CASES:
        sizes = " x ".join(str(len(values)) for _, values in axes)
        return [], [loc.message(base_path + ("matrix",), f"expands to {count:,} cases ({sizes}); at most "
                                f"{MAX_CASES:,} are allowed: split the suite or shorten the lists")]
    merged = _deep_merge(defaults, template)
    if "name" not in merged:
        return [], [loc.message(base_path, "missing 'name': every case needs a name")]
    weight = _count_values(merged)
    if weight * count > MAX_EXPANDED_VALUES:
        return [], [loc.message(base_path, f"{count:,} case(s) of {weight:,} values each would expand to more than "
                                f"{MAX_EXPANDED_VALUES:,} values; shorten the lists or split the suite")]
    expanded = []
    for combo in itertools.product(*(values for _, values in axes)) if axes else [()]:
        case = copy.deepcopy(merged)
        for (key, _), value in zip(axes, combo):
            _set_dotted(case, key, value)
        if combo:
            case["name"] = f"{merged['name']}-" + "-".join(_matrix_label(v) for v in combo)
        expanded.append(case)
    return expanded, problems


def _case_problem(loc: _Locator, index: int, template: dict[str, Any], error: dict[str, Any]) -> str:
    field_path = tuple(error["loc"])
    case_keys = set(template) | set((template.get("matrix") or {}))
    first = field_path[0] if field_path else None
    if first in case_keys or first is None:
        yaml_path: Path_ = ("cases", index) + field_path
        if first in (template.get("matrix") or {}) and first not in template:
            yaml_path = ("cases", index, "matrix", first)
    else:
        yaml_path = ("defaults",) + field_path
    text = error["msg"]
    if error["type"] == "extra_forbidden":
        parent = _model_at(field_path[:-1])
        choices = list(parent.model_fields) if parent else []
        name = str(field_path[-1])
        text = f"unknown key{did_you_mean(name, choices)}" + (f"; valid keys: {', '.join(choices)}" if choices else "")
    elif error["type"] == "literal_error":
        text = f"{error['msg']}, got {_short(error.get('input'))}" + did_you_mean(
            str(error.get("input")), [c.strip(" '") for c in error["msg"].split("Input should be")[-1].replace(" or ", ",").split(",")]
        )
    elif "input" in error and error["type"] not in ("missing",) and not isinstance(error["input"], (dict, list)):
        text = f"{error['msg']} (got {_short(error['input'])})"
    text = text.replace("Value error, ", "")
    return loc.message(yaml_path, text)


def _short(value: Any, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters (a hostile value can be a megabyte long)."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _model_at(path: Path_) -> type[BaseModel] | None:
    model: type[BaseModel] = Case
    for part in path:
        if isinstance(part, int):
            continue
        info = model.model_fields.get(str(part))
        # a plain model field, or an optional one (``ServeConfig | None``): the model among its types
        options = [] if info is None else [info.annotation, *typing.get_args(info.annotation)]
        found = next((t for t in options if isinstance(t, type) and issubclass(t, BaseModel)), None)
        if found is None:
            return None
        model = found
    return model


def load_suite(path: str | Path, check_plugins: bool = True) -> LoadedSuite:
    """Read, expand and validate a suite file; raise :class:`SuiteError` listing every problem.

    Args:
        path: the YAML file, or the bare name of a shipped suite (``quickstart``).
        check_plugins: also check plugin names and validate each plugin's options against its
            own options model (needs the plugin registry, still without torch).
    """
    from dlrmbench.config.catalog import resolve_suite

    path = resolve_suite(path)
    data, lines = read_yaml(path)
    loc = _Locator(path, lines)
    if not isinstance(data, dict):
        raise SuiteError(path, ["the file must be a mapping with at least 'name' and 'cases'"])
    try:
        suite = Suite.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            text = err["msg"].replace("Value error, ", "")
            if err["type"] == "extra_forbidden":
                text = f"unknown key{did_you_mean(str(err['loc'][-1]), list(Suite.model_fields))}; valid keys: {', '.join(Suite.model_fields)}"
            problems.append(loc.message(tuple(err["loc"]), text))
        raise SuiteError(path, problems) from None

    problems: list[str] = []
    cases: list[Case] = []
    origins: list[int] = []
    for index, template in enumerate(suite.cases):
        expanded, found = _expand(index, template, suite.defaults, loc)
        problems.extend(found)
        if len(cases) + len(expanded) > MAX_CASES:
            problems.append(loc.message(("cases", index), f"the suite expands to more than {MAX_CASES:,} cases; "
                                        "split it into several suites"))
            break
        for raw in expanded:
            try:
                case = Case.model_validate(raw)
            except ValidationError as exc:
                problems.extend(_case_problem(loc, index, template, e) for e in exc.errors())
                continue
            cases.append(case)
            origins.append(index)
    seen: dict[str, int] = {}
    for case, origin in zip(cases, origins):
        if case.name in seen:
            problems.append(loc.message(("cases", origin, "name"), f"duplicate case name {case.name!r}; names must be unique"))
        seen[case.name] = origin
    if check_plugins and not problems:
        problems.extend(_plugin_problems(cases, origins, suite.cases, loc))
    if problems:
        raise SuiteError(path, list(dict.fromkeys(problems)))
    return LoadedSuite(suite=suite, cases=cases, path=path, origins=origins)


PLUGIN_FIELDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("backend", ("backend",)), ("embedding", ("embedding",)), ("interaction", ("model", "interaction")),
    ("optimizer", ("optimizer",)), ("dataset", ("dataset",)),
)
"""Each plugin kind and where a case names it (the optimizer's ``name`` and ``options`` sit next to its schedule)."""


def _where(template: dict, origin: int, field_path: tuple[str, ...]) -> "Path_":
    """Where a case sets ``field_path``: its own template, or the suite's defaults."""
    in_case = template.get(field_path[0]) if len(field_path) > 1 else field_path[0] in template
    if len(field_path) > 1:
        in_case = isinstance(in_case, dict) and field_path[1] in in_case
    return ("cases", origin, *field_path) if in_case else ("defaults", *field_path)


def _options_problems(spec: Any, options: dict, where: "Path_", loc: _Locator, what: str) -> list[str]:
    """The problems of ``options`` against the spec's options model, located under ``where``."""
    try:
        spec.options.model_validate(options)
    except ValidationError as exc:
        out = []
        for err in exc.errors():
            text = err["msg"].replace("Value error, ", "")
            if err["type"] == "extra_forbidden":
                fields = [f for f in spec.options.model_fields if f != "family"]
                text = (f"unknown option for {what}{did_you_mean(str(err['loc'][-1]), fields)}; "
                        f"valid options: {', '.join(fields) or '(none)'}")
            out.append(loc.message(where + tuple(err["loc"]), text))
        return out
    return []


def _plugin_problems(cases: list[Case], origins: list[int], templates: list[dict], loc: _Locator) -> list[str]:
    from dlrmbench.plugins import get_registry

    registry = get_registry()
    problems = []
    for case, origin in zip(cases, origins):
        template = templates[origin]
        family_name, family_options = case.plugin("family")
        try:
            family = registry.get("family", family_name)
        except UserError as exc:
            problems.append(loc.message(_where(template, origin, ("model", "family")), exc.message))
            continue
        if family.options is not type(case.model):  # another family's block: its own configuration model
            where = _where(template, origin, ("model",))
            problems += _options_problems(family, {"family": family_name, **family_options}, where, loc,
                                          f"family {family_name!r}")
        for kind, field_path in PLUGIN_FIELDS:
            where = _where(template, origin, field_path)
            if kind in MODEL_KINDS and kind not in family.uses:
                if case.names_plugin(kind):  # (another family's model.interaction is its own block's field)
                    problems.append(loc.message(where, f"family {family_name} does not use a {kind} plugin; "
                                                       f"drop {'.'.join(field_path)}"))
                continue
            if not case.names_plugin(kind) and kind in family.defaults:
                continue  # the family's default, checked with the family
            ref: Any = case
            for part in field_path:
                ref = getattr(ref, part)
            try:
                spec = registry.get(kind, ref.name)  # type: ignore[arg-type]
            except UserError as exc:
                problems.append(loc.message(where, exc.message))
                continue
            problems += _options_problems(spec, ref.options, where + ("options",), loc, f"{kind} {ref.name!r}")
        if case.distributed.topology is not None:
            try:
                registry.get("topology", case.distributed.topology)
            except UserError as exc:
                problems.append(loc.message(_where(template, origin, ("distributed", "topology")), exc.message))
    return problems


