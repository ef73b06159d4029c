"""The checks that run before the model: plain JSON, one dialect, the schema.

A contract arrives from JSON, from YAML or from Python code. YAML and Python
can hold what JSON cannot (dates, NaN, integer keys, sets, 2**100...), and
none of it could be stored or hashed as canonical JSON, so it is refused
first, with its path. The walk is iterative and bounded, so neither a deeply
nested document nor a YAML alias bomb can exhaust the stack or the clock.
"""

from __future__ import annotations

import math
from typing import Literal

from caio_integration.contracts._paths import line, schema_error_lines
from caio_integration.contracts._resources import contract_schema, contract_validator

__all__ = ["MAX_DEPTH", "MAX_NODES", "Dialect", "dialect_of", "json_errors", "schema_errors"]

Dialect = Literal["nested", "flat"]

MAX_DEPTH = 32  # the Codex contract is 6 deep; free-form metadata gets ample room
MAX_NODES = 20_000  # values visited; YAML aliases can make a short text a huge tree
_INT_RANGE = range(-(2**63), 2**63)  # what every JSON stack (and orjson) round-trips
_MAX_REPORTED = 20

Loc = tuple[str | int, ...]


def _value_error(value: object) -> str | None:
    """Why one scalar is not JSON, or ``None`` if it is."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return None if value in _INT_RANGE else "integer out of the 64-bit range"
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{value!r} is not a JSON number"
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "text is not valid Unicode (lone surrogate)"
        return None
    kind = type(value).__name__
    hint = "; in YAML, quote it" if kind in {"date", "datetime"} else ""
    return f"a {kind} is not a JSON value{hint}"


def json_errors(data: object) -> list[str]:
    """Where ``data`` is not plain JSON (objects with string keys, arrays, scalars)."""
    errors: list[str] = []
    stack: list[tuple[object, Loc]] = [(data, ())]
    visited = 0
    while stack and len(errors) < _MAX_REPORTED:
        value, path = stack.pop()
        visited += 1
        if visited > MAX_NODES:
            return [line([], f"document is too large (more than {MAX_NODES} values)")]
        if len(path) > MAX_DEPTH:
            errors.append(line(path, f"nested more than {MAX_DEPTH} levels deep"))
            continue
        if isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, str) and _value_error(key) is None:
                    stack.append((item, (*path, key)))
                else:
                    errors.append(line(path, f"key {key!r} is not a JSON string"))
        elif isinstance(value, list):
            stack.extend((item, (*path, index)) for index, item in enumerate(value))
        else:
            problem = _value_error(value)
            if problem is not None:
                errors.append(line(path, problem))
    return sorted(errors)


def dialect_of(data: object) -> Dialect | None:
    """``nested`` if the document has ``service``, ``flat`` if ``service_id``."""
    if not isinstance(data, dict):
        return None
    if "service" in data:
        return "nested"
    if "service_id" in data:
        return "flat"
    return None


def _branch(dialect: Dialect) -> int:
    """Index of the dialect's branch in the schema's root ``oneOf``."""
    wanted = f"#/$defs/{dialect}_contract"
    refs = [branch.get("$ref") for branch in contract_schema()["oneOf"]]
    return refs.index(wanted)


def schema_errors(data: object) -> list[str]:
    """Schema errors of a plain-JSON document, for the dialect it is written in."""
    if not isinstance(data, dict):
        kind = "null" if data is None else type(data).__name__
        return [line([], f"a contract is a mapping (JSON object), not {kind}")]
    dialect = dialect_of(data)
    if dialect is None:
        found = ", ".join(repr(key) for key in list(data)[:5]) or "nothing"
        return [
            line(
                [],
                "not a contract: expected 'service' (nested dialect) or 'service_id' "
                f"(flat dialect) at the top; found {found}",
            )
        ]
    return schema_error_lines(contract_validator().iter_errors(data), _branch(dialect))
