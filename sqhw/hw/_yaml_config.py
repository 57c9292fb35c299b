"""Reading a small YAML config file safely, and naming `file:line: key` in its errors.

The machinery behind `boards.py`: PyYAML's safe loader with limits (size, nesting depth,
nodes after alias expansion, so an alias bomb fails in milliseconds), duplicate keys
refused, the line of every key path taken from the composed nodes' marks, and pydantic's
validation errors turned into `file:line: key: expected ..., got ...` lines.
"""

from __future__ import annotations

import math
import re
import typing

import yaml
from pydantic import BaseModel, ValidationError

MAX_BYTES = 64 * 1024  # the largest board file is about 2 kB
MAX_NODES = 5000       # YAML nodes after alias expansion; a board file has about 60
MAX_DEPTH = 16         # nesting levels; a board file has 4


class ConfigFileError(ValueError):
    """A config file that cannot be used; the message names the file, line and key."""


class FieldProblem(ValueError):
    """A cross-field inconsistency a model validator found, at key path `loc` (relative to
    the model that raised it)."""

    def __init__(self, loc: tuple, message: str):
        super().__init__(message)
        self.loc = loc


def read_yaml(raw: bytes, shown: str, what: str = "board file"
              ) -> tuple[object, dict[tuple, int]]:
    """The file's data and the line of every key path, refusing oversized files, alias
    bombs, deep nesting and duplicate keys before any Python object is built. `what` names
    the kind of file in those errors."""
    if len(raw) > MAX_BYTES:
        raise ConfigFileError(f"{shown}: {len(raw)} bytes, more than a {what}'s limit "
                              f"of {MAX_BYTES}")
    loader = _DepthLimitedLoader(raw)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        lines = _index(node, shown, what)  # before constructing: the walk is bounded
        return loader.construct_document(node), lines
    except yaml.MarkedYAMLError as err:  # syntax, or a tag the safe loader refuses
        mark = err.problem_mark or err.context_mark
        where = f":{mark.line + 1}" if mark else ""
        raise ConfigFileError(f"{shown}{where}: not valid YAML: {err.problem or err}") from None
    except yaml.YAMLError as err:
        raise ConfigFileError(f"{shown}: not valid YAML: {err}") from None
    finally:
        loader.dispose()


class _DepthLimitedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing deep nesting while it composes (its composer recurses
    once per level, so `[[[[...` would otherwise run into Python's recursion limit)."""

    depth = 0

    def compose_node(self, parent, index):
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise yaml.MarkedYAMLError(problem=f"nested deeper than {MAX_DEPTH} levels",
                                           problem_mark=self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


# YAML 1.1 reads 2:4 as the base-60 integer 124; YAML 1.2 and every reader of an N:M pattern
# mean the string "2:4". Integers here are decimal, hex, octal or binary, never base 60.
_INT = "tag:yaml.org,2002:int"
_DepthLimitedLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _INT]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_DepthLimitedLoader.add_implicit_resolver(_INT, re.compile(r"""^(?:[-+]?0b[0-1_]+
    |[-+]?0[0-7_]+
    |[-+]?(?:0|[1-9][0-9_]*)
    |[-+]?0x[0-9a-fA-F_]+)$""", re.X), list("-+0123456789"))


def _index(root, shown: str, what: str) -> dict[tuple, int]:
    """Line of each key path; counts nodes as aliases expand, so a bomb stops early."""
    lines: dict[tuple, int] = {(): 1}
    stack, seen = [((), root)], 0
    while stack:
        path, node = stack.pop()
        seen += 1
        if seen > MAX_NODES:
            raise ConfigFileError(f"{shown}: expands past {MAX_NODES} YAML nodes (aliases "
                                  f"repeating aliases?); a {what} has fewer than 100")
        if len(path) > MAX_DEPTH:
            raise ConfigFileError(f"{shown}: {_dotted(path[:3])}: nests deeper than "
                                  f"{MAX_DEPTH} levels (an alias inside itself?)")
        if isinstance(node, yaml.MappingNode):
            first: dict[object, int] = {}
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
                line = key_node.start_mark.line + 1
                if key is not None and key in first and key != "<<":
                    raise ConfigFileError(f"{shown}:{line}: {_dotted(path + (key,))}: "
                                          f"duplicate key (first at line {first[key]})")
                first.setdefault(key, line)
                lines.setdefault(path + (key,), line)
                stack.append((path + (key,), value_node))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                lines.setdefault(path + (i,), item.start_mark.line + 1)
                stack.append((path + (i,), item))
    return lines


def _dotted(loc: tuple) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def kind_of(value) -> str:
    return {dict: "mapping", list: "list", str: "string", bool: "boolean",
            int: "integer", float: "number"}.get(type(value), type(value).__name__)


def show(value) -> str:
    """A value as the YAML file wrote it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return ".nan" if math.isnan(value) else ("-.inf" if value < 0 else ".inf")
    if isinstance(value, (dict, list)):
        return f"a {kind_of(value)}"
    return repr(value)


def _line_of(lines: dict[tuple, int], loc: tuple) -> int:
    """The line of the key at `loc`, or of its nearest parent present in the file."""
    key = tuple(p if isinstance(p, int) else str(p) for p in loc)
    while key not in lines:
        key = key[:-1]
    return lines[key]


def _model_at(root: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The model class that validates the mapping at key path `loc`."""
    model: type[BaseModel] | None = root
    for part in loc:
        if model is None:
            return None
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        model = _model_in(field.annotation) if field else None
    return model


def _model_in(annotation) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found:
            return found
    return None


def _keys_of(model: type[BaseModel] | None, hidden: tuple[str, ...],
             extra: tuple[str, ...] = ()) -> str:
    return ", ".join([*(k for k in (model.model_fields if model else {}) if k not in hidden),
                      *extra])


_EXPECTED = {
    "int_type": "expected an integer", "int_parsing": "expected an integer",
    "int_from_float": "expected an integer", "float_type": "expected a number",
    "float_parsing": "expected a number", "finite_number": "expected a finite number",
    "string_type": "expected a string", "string_too_short": "expected a non-empty string",
    "list_type": "expected a list", "tuple_type": "expected a list",
}


def _message(err: dict, root: type[BaseModel], hidden: tuple[str, ...],
             extra: tuple[str, ...] = ()) -> tuple[tuple, str]:
    """(key path, message) for one pydantic error."""
    loc, kind, ctx, value = tuple(err["loc"]), err["type"], err.get("ctx", {}), err["input"]
    if kind == "missing":
        return loc[:-1], f"missing key {loc[-1]!r}"
    if kind == "extra_forbidden":
        top = extra if len(loc) == 1 else ()
        return loc, f"unknown key (allowed: {_keys_of(_model_at(root, loc[:-1]), hidden, top)})"
    if kind == "value_error" and isinstance(ctx.get("error"), FieldProblem):
        problem = ctx["error"]
        return loc + problem.loc, str(problem)
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        expected = f"expected a mapping with keys {_keys_of(_model_at(root, loc), hidden)}"
    elif kind == "greater_than":
        expected = f"expected a number > {ctx['gt']:g}"
    elif kind == "greater_than_equal":
        expected = f"expected a number >= {ctx['ge']:g}"
    elif kind == "literal_error":
        expected = f"expected {ctx['expected']}"
    elif kind == "too_short":
        expected = f"expected at least {ctx['min_length']} entry"
    elif kind == "string_pattern_mismatch":
        expected = f"expected a string matching {ctx['pattern']}"
    else:
        expected = _EXPECTED.get(kind, err["msg"])
    return loc, f"{expected}, got {show(value)}"


def describe(error: ValidationError, lines: dict[tuple, int], shown: str,
             root: type[BaseModel], hidden: tuple[str, ...] = (),
             extra: tuple[str, ...] = ()) -> str:
    """One `file:line: key: message` line per problem, in file order; `hidden` keys of the
    models are not offered as allowed keys (they are filled in by the loader), `extra` top
    keys are (the loader reads them itself)."""
    problems = [_message(e, root, hidden, extra) for e in error.errors()]
    located = [(loc, message) for loc, message in problems
               # a list whose entries failed also reports "too short": keep the entries
               if not (message.startswith("expected at least") and
                       any(len(other) > len(loc) and other[:len(loc)] == loc
                           for other, _ in problems))]

    rows = sorted((_line_of(lines, loc), _dotted(loc), message) for loc, message in located)
    return "\n".join(f"{shown}:{line}: {key + ': ' if key else ''}{message}"
                     for line, key, message in rows)
