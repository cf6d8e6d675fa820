"""The JSON schemas of the input files (``workflow/schemas/<kind>.schema.yaml``): loading, defaults, validation.

The config is validated by Snakemake's ``validate`` against ``config.schema.yaml``; the study, protocol and
evaluation-recipe files are validated here against their schemas, with the same library (jsonschema, Draft
2020-12). A failure names the file, the key path (``grids[1].seeds[0]``), the offending value and, where the
schema gives ``examples``, one as the fix. The schemas live beside the workflow, found from this package's folder
in the repository (an editable install, as ``make`` makes); checks that a schema cannot say (a protocol named by
a study exists, a method is registered) are :mod:`augrepro.studies.checks`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, relevance

from augrepro.errors import ConfigError

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "workflow" / "schemas"


def read_yaml(path: Path) -> Any:
    """The content of a configuration file (a study, the protocols, the evaluation recipes); a file that is not
    YAML is refused by name with the parser's message."""
    with open(path, encoding="utf-8") as fh:
        try:
            return yaml.safe_load(fh)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({exc})") from None


@functools.cache
def load_schema(kind: str) -> dict[str, Any]:
    """The schema of one file kind (``study``, ``protocol``, ``evaluations``, ``config``), checked as a schema."""
    path = SCHEMA_DIR / f"{kind}.schema.yaml"
    if not path.is_file():
        raise ConfigError(
            f"schema {path} not found: augrepro reads its file schemas from the repository's workflow/schemas "
            "(install it editable from a clone: pip install -e .)"
        )
    schema = yaml.safe_load(path.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return schema


def subschema(kind: str, *keys: str) -> dict[str, Any]:
    """The schema at ``properties.<key>...`` of a kind's schema (``$defs`` references followed)."""
    root = load_schema(kind)
    node = root
    for key in keys:
        node = _resolve(root, node)["properties"][key]
    return _resolve(root, node)


def _resolve(root: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """``node`` with its ``$ref`` followed; its own keys (description, default) win over the definition's."""
    ref = node.get("$ref")
    if ref is None:
        return node
    assert ref.startswith("#/$defs/"), ref  # the schemas refer only to their own definitions
    own = {k: v for k, v in node.items() if k != "$ref"}
    return {**_resolve(root, root["$defs"][ref.removeprefix("#/$defs/")]), **own}


def defaults(kind: str, *keys: str) -> dict[str, Any]:
    """Each key's schema default at ``keys`` (e.g. ``defaults("study", "resources")``): the one place it is said."""
    root = load_schema(kind)
    properties = subschema(kind, *keys)["properties"]
    return {
        k: node["default"] for k, node in ((k, _resolve(root, v)) for k, v in properties.items()) if "default" in node
    }


def key_path(path: Iterable[Any]) -> str:
    """``grids[1].seeds[0]`` for the path ``("grids", 1, "seeds", 0)``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _branch(error: ValidationError) -> ValidationError:
    """For a value that matches none of a ``oneOf``'s shapes, the failure inside the shape of the value's own type
    (a mapping given as adaptive seeds fails as adaptive seeds, not as "not a list")."""
    while error.validator in ("oneOf", "anyOf") and error.context and not _one_of_keys(error):
        wrong_type = {e.relative_schema_path[0] for e in error.context if e.validator == "type" and not e.relative_path}
        inner = [e for e in error.context if e.relative_schema_path[0] not in wrong_type]
        if not inner:
            break
        error = max(inner, key=relevance)
    return error


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _all_properties(root: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """A schema node's keys: its own ``properties`` after those of the definition it refers to."""
    inherited = _all_properties(root, _resolve(root, {"$ref": node["$ref"]})) if "$ref" in node else {}
    return {**inherited, **node.get("properties", {})}


def _keys_at(root: dict[str, Any], path: Iterable[Any]) -> dict[str, Any]:
    """The keys the schema describes for the value at ``path`` of the instance (through $ref, items,
    additionalProperties and the shapes of a oneOf): where a key that a condition requires is described."""
    nodes = [root]
    for part in path:
        step = []
        for node in nodes:
            for shape in [node, *_resolve(root, node).get("oneOf", [])]:
                full = _resolve(root, shape)
                child = full.get("items") if isinstance(part, int) else _all_properties(root, shape).get(part)
                child = child if child is not None or isinstance(part, int) else full.get("additionalProperties")
                if isinstance(child, dict):
                    step.append(child)
        nodes = step
    keys: dict[str, Any] = {}
    for node in nodes:
        for shape in [node, *_resolve(root, node).get("oneOf", [])]:
            keys = {**_all_properties(root, shape), **keys}
    return keys


def _one_of_keys(error: ValidationError) -> list[str] | None:
    """The keys of a ``oneOf`` whose every shape only requires one key (exactly one of them must be given)."""
    shapes = error.validator_value if error.validator == "oneOf" else None
    if isinstance(shapes, list) and all(isinstance(b, dict) and set(b) == {"required"} for b in shapes):
        return [k for b in shapes for k in b["required"]]
    return None


_TYPE_NAMES = {
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "boolean": "true or false",
    "array": "a list",
    "object": "a mapping",
    "null": "null",
}
_FINITE = 1e300  # the schemas' maximum for "any finite number"
_BOUND_VALIDATORS = ("type", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def expected_value(schema: dict[str, Any]) -> str:
    """What a schema node accepts, in words: its types and its bounds (``an integer >= 1``, ``a number in [0, 1)``,
    ``a mapping or null``)."""
    kind = " or ".join(_TYPE_NAMES.get(t, str(t)) for t in _as_list(schema.get("type", []))) or "a value"
    low = ("[", schema["minimum"]) if "minimum" in schema else ("(", schema.get("exclusiveMinimum"))
    high = ("]", schema["maximum"]) if "maximum" in schema else (")", schema.get("exclusiveMaximum"))
    if high[1] is not None and high[1] >= _FINITE:  # a bound that only says "finite" (YAML has .inf)
        kind, high = f"a finite {kind.removeprefix('a ').removeprefix('an ')}", (")", None)
    if low[1] is not None and high[1] is not None:
        return f"{kind} in {low[0]}{_number(low[1])}, {_number(high[1])}{high[0]}"
    if low[1] is not None:
        return f"{kind} {'>=' if low[0] == '[' else '>'} {_number(low[1])}"
    if high[1] is not None:
        return f"{kind} {'<=' if high[0] == ']' else '<'} {_number(high[1])}"
    return kind


def format_error(
    error: ValidationError, where: str, root: dict[str, Any] | None = None, prefix: tuple[Any, ...] = ()
) -> str:
    """One schema failure as ``<file>: <key path>: <what is wrong>[; valid ...][; e.g. <example>]``."""
    error = _branch(error)
    exactly_one = _one_of_keys(error)
    at = key_path((*prefix, *error.absolute_path))
    schema = error.schema if isinstance(error.schema, dict) else {}
    known = _all_properties(root or schema, schema)
    if exactly_one:
        text = f"give exactly one of {', '.join(exactly_one)}"
    elif error.validator in ("additionalProperties", "unevaluatedProperties") and isinstance(error.instance, dict):
        unknown = sorted(str(k) for k in error.instance if k not in known)
        text = f"unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(known)}"
    elif error.validator == "required":
        missing = str(error.message).split("'")[1]
        node = _keys_at(root or schema, error.absolute_path).get(missing) or known.get(missing) or {}
        description = " ".join(str(_resolve(root or schema, node).get("description", "")).split())
        text = f"'{missing}' is required" + (f": {description}" if description else "")
    elif error.validator in ("oneOf", "anyOf"):  # of a type none of the shapes has
        types = [t for e in error.context if e.validator == "type" for t in _as_list(e.validator_value)]
        text = f"{error.instance!r} is not of type {', '.join(repr(t) for t in dict.fromkeys(types))}"
    elif error.validator == "pattern" and error.validator_value == "\\S":  # the schemas' non-empty text
        path = list(error.absolute_path)
        node = _keys_at(root or schema, path[:-1]).get(path[-1], {}) if path else {}
        description = " ".join(str(_resolve(root or schema, node).get("description", "")).split())
        text = f"{error.instance!r} is empty" + (f"; give it: {description}" if description else "")
    elif error.validator == "enum":
        text = f"{error.instance!r} is not valid; valid: {', '.join(str(v) for v in schema['enum'])}"
    elif error.validator in _BOUND_VALIDATORS:
        text = f"got {error.instance!r}; expected {expected_value(schema)}"
    else:
        text = error.message
    examples = schema.get("examples")
    if examples and error.validator != "required":
        example = yaml.safe_dump(examples[0], default_flow_style=True, sort_keys=False, width=1000).strip()
        text += f"; e.g. {at or 'the file'}: {example}"
    return f"{where}: {at}: {text}" if at else f"{where}: {text}"


def validate(instance: Any, kind: str, where: str, definition: str | None = None, prefix: tuple[Any, ...] = ()) -> None:
    """Refuse ``instance`` (a file's content, or with ``definition`` a value of the kind's ``$defs``, found at the
    key path ``prefix`` of its file) unless it matches the schema; the message names ``where`` (the file), the key
    path and the value (:func:`format_error`)."""
    root = load_schema(kind)
    schema = {"$ref": f"#/$defs/{definition}", "$defs": root["$defs"]} if definition else root
    errors = list(Draft202012Validator(schema).iter_errors(instance))
    if errors:
        error = max(errors, key=relevance)  # the most relevant, then into the shape of the value's type (_branch)
        raise ConfigError(format_error(error, where, schema, prefix))


def definition_defaults(kind: str, definition: str) -> dict[str, Any]:
    """Each key's default in a definition of a kind's schema (``$defs.<definition>``)."""
    root = load_schema(kind)
    properties = _all_properties(root, root["$defs"][definition])
    return {
        k: node["default"] for k, node in ((k, _resolve(root, v)) for k, v in properties.items()) if "default" in node
    }
