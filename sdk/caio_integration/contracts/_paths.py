"""One error style for every stage: ``"<JSONPath>: <message>"``.

Paths are JSONPath from the document's root: ``$`` is the document itself,
``.key`` a key, ``[0]`` a list item, and ``["odd key"]`` a key that is not a
plain word (dots, spaces...), e.g. ``$.service.capabilities[0].type``.
Schema errors name paths of the document as written (flat or nested); model
errors, which the schema makes rare, name paths of the nested form.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from jsonschema import ValidationError as SchemaError
from pydantic import ValidationError as ModelError

from caio_integration.subjects import SAFE_TOKEN

__all__ = ["MAX_MESSAGE", "json_path", "line", "model_error_lines", "schema_error_lines"]

MAX_MESSAGE = 240  # messages quote the offending value; a huge value must not flood a reply

_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")
_SAFE_NAME_HINT = (
    "is not a safe name: use 1-64 of a-z, 0-9, '_' or '-', starting with a letter or digit"
)


def json_path(parts: Iterable[str | int]) -> str:
    path = "$"
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(part):
            path += f".{part}"
        else:
            path += f"[{json.dumps(part, ensure_ascii=False)}]"
    return path


def line(parts: Iterable[str | int], message: str) -> str:
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 1] + "…"
    return f"{json_path(parts)}: {message}"


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:79] + "…"


def _parts(error: SchemaError) -> list[str | int]:
    return [part if isinstance(part, int) else str(part) for part in error.absolute_path]


def _unknown_keys(instance: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    known = schema.get("properties", {})
    patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
    return [
        key
        for key in instance
        if key not in known and not any(pattern.search(key) for pattern in patterns)
    ]


_EMBEDDED_SCHEMA_KEYS = ("input_schema", "output_schema")


def _inside_embedded_schema(error: SchemaError) -> tuple[list[str | int], list[str | int]] | None:
    """For an error the JSON Schema metaschema found in a capability's own schema: the
    path to that schema, and the path inside it; else None."""
    schema_path = list(error.absolute_schema_path)
    for index, key in enumerate(schema_path[:-1]):
        if key in _EMBEDDED_SCHEMA_KEYS and schema_path[index + 1] == "then":
            path = _parts(error)
            if key in path:
                cut = path.index(key) + 1
                return path[:cut], path[cut:]
    return None


def _explain(error: SchemaError) -> Iterator[str]:
    """Lines for one schema error, phrased for someone fixing a contract."""
    parts = _parts(error)
    keyword, schema = error.validator, error.schema
    value: Any = error.validator_value
    instance = error.instance
    inside = _inside_embedded_schema(error)
    if inside is not None:
        outer, inner = inside
        where = f"{'.'.join(str(part) for part in inner)}: " if inner else ""
        yield line(outer, f"not a valid JSON Schema: {where}{error.message}")
    elif keyword == "required" and isinstance(instance, dict):
        for key in value:
            if key not in instance:
                yield line([*parts, key], "required key is missing")
    elif keyword == "additionalProperties" and isinstance(instance, dict):
        assert isinstance(schema, dict)
        known = list(schema.get("properties", {}))
        allowed = ", ".join(known)
        patterns = " ".join(schema.get("patternProperties", {}))
        if "per_" in patterns:
            allowed += ", per_<unit>"
        if "x-" in patterns:
            allowed += ", x-<extension>"
        for key in _unknown_keys(instance, schema):
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.75)
            hint = f"did you mean {close[0]!r}? " if close else ""
            yield line([*parts, key], f"unknown key; {hint}allowed here: {allowed}")
    elif keyword == "pattern" and value == SAFE_TOKEN.pattern:
        yield line(parts, f"{_short(instance)} {_SAFE_NAME_HINT}")
    elif keyword == "not" and isinstance(schema, dict) and "description" in schema:
        yield line(parts, str(schema["description"]))
    elif keyword == "anyOf" and all(set(branch) == {"required"} for branch in value):
        names = ", ".join(repr(key) for branch in value for key in branch["required"])
        yield line(parts, f"needs at least one of {names}")
    elif keyword == "uniqueItems" and isinstance(instance, list):
        seen: list[object] = []
        for item in instance:
            if item in seen:
                yield line(parts, f"lists {_short(item)} more than once")
                break
            seen.append(item)
    elif keyword == "type":
        yield line(parts, f"{_short(instance)} is not of type {_type_names(value)}")
    else:
        yield line(parts, error.message)


def _type_names(value: object) -> str:
    names = [value] if isinstance(value, str) else list(value) if isinstance(value, list) else []
    return " or ".join(repr(name) for name in names)


def schema_error_lines(errors: Iterable[SchemaError], branch: int | None = None) -> list[str]:
    """Explain schema errors; for the root ``oneOf``, only those of the dialect ``branch``.

    The document says which dialect it means (``service`` or ``service_id``),
    so errors of the other dialect would only confuse.
    """
    lines: list[str] = []
    for error in errors:
        if error.validator == "oneOf" and not error.absolute_path and branch is not None:
            chosen = [e for e in error.context or [] if e.relative_schema_path[0] == branch]
            lines.extend(schema_error_lines(chosen) if chosen else [line([], error.message)])
        else:
            lines.extend(_explain(error))
    return _dedupe_sorted(lines)


def model_error_lines(exc: ModelError, prefix: Sequence[str | int], note: str = "") -> list[str]:
    """Pydantic's errors in the same style; ``prefix`` is where the model sits."""
    lines = []
    for err in exc.errors(include_url=False):
        message = str(err["msg"]).removeprefix("Value error, ")
        parts = [part if isinstance(part, int) else str(part) for part in err["loc"]]
        lines.append(line([*prefix, *parts], message + note))
    return _dedupe_sorted(lines)


def _dedupe_sorted(lines: list[str]) -> list[str]:
    # Sorted so the same document always reports the same first errors,
    # whatever order its keys came in.
    return sorted(set(lines))
