"""An endpoint's JSON Schema, with its validators built once when the bridge starts.

jsonschema interprets the schema on every call: on the example chat contract
about 70 µs a request for input and output, a fifth of the bridge's CPU per
request (bench/serve_cost.py). So when ``jsonschema_rs`` is installed (a
compiled draft 2020-12 validator, a real library's, never one written here;
fastjsonschema knows drafts up to 7 only) it answers the common question,
"is this valid?", in under a microsecond, and jsonschema still writes every
reply's messages: a value ``jsonschema_rs`` refuses is checked again by
jsonschema, whose problems (or none) are the answer, exactly as before.

``jsonschema_rs`` is trusted only where the two agree. It is left out for a
schema that names another draft, uses keywords whose meaning differs between
the two libraries (``pattern`` and ``patternProperties``: Rust's regular
expressions are not Python's ``re``; ``multipleOf``: jsonschema divides
floats, so it refuses 0.3 as a multiple of 0.1 and ``jsonschema_rs`` does
not), or that it cannot compile offline (a remote ``$ref``: jsonschema
refuses those when validating, and neither fetches anything). A value it
cannot read (a YAML date among an endpoint's ``defaults``) goes to jsonschema.
tests/test_http_bridge_schemas.py checks the two agree on generated values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from jsonschema import Draft202012Validator

__all__ = ["MAX_SCHEMA_ERRORS", "Schema", "fast_check"]

MAX_SCHEMA_ERRORS = 5  # in one reply: enough to fix the input, not a wall of text
_DRAFT_2020_12 = frozenset(
    {
        "https://json-schema.org/draft/2020-12/schema",
        "https://json-schema.org/draft/2020-12/schema#",
    }
)
# Where jsonschema_rs and jsonschema may disagree (the docstring says how); any
# key of that name anywhere in the schema, a property's name too, keeps it out.
_DIFFERING_KEYWORDS = frozenset({"pattern", "patternProperties", "multipleOf"})

_rs: ModuleType | None
try:
    import jsonschema_rs as _rs
except ImportError:  # pragma: no cover - the test suite runs with it (schemathesis brings it)
    _rs = None


class Schema:
    """A checked JSON Schema: ``problems(value, root)`` lists what is wrong, if anything."""

    __slots__ = ("_valid", "validator")

    def __init__(self, schema: Mapping[str, Any] | bool) -> None:
        self.validator = Draft202012Validator(schema)
        self._valid = fast_check(schema)

    def problems(self, value: Any, root: str) -> list[str]:
        """Up to ``MAX_SCHEMA_ERRORS`` lines ``<root><path>: <why>``, sorted; [] when valid."""
        if self._valid is not None:
            # A value it cannot read (not JSON's types: a YAML date in the defaults)
            # or any other failure of it: jsonschema decides, as it always did.
            try:
                if self._valid(value):
                    return []
            except Exception:  # noqa: BLE001, S110
                pass
        problems = []
        for error in self.validator.iter_errors(value):
            where = "".join(
                f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path
            )
            problems.append(f"{root}{where}: {error.message}"[:300])
            if len(problems) == MAX_SCHEMA_ERRORS:
                break
        return sorted(problems)


def fast_check(schema: Mapping[str, Any] | bool) -> Callable[[Any], bool] | None:
    """``jsonschema_rs``'s ``is_valid`` for ``schema``, or None where it is not trusted."""
    if _rs is None:
        return None
    if isinstance(schema, Mapping):
        said = schema.get("$schema")
        below = _keys(list(schema.values()))
        if (said is not None and said not in _DRAFT_2020_12) or "$schema" in below:
            return None  # another draft, or a resource embedded in one
        if (below | set(schema)) & _DIFFERING_KEYWORDS:
            return None
    # A remote or missing $ref, a number past a float, ...: whatever it cannot
    # compile (its ReferencingError is no ValueError) is jsonschema's alone.
    try:
        validator = _rs.Draft202012Validator(schema, validate_formats=False, offline=True)
    except Exception:  # noqa: BLE001
        return None
    is_valid: Callable[[Any], bool] = validator.is_valid
    return is_valid


def _keys(node: object) -> set[str]:
    """Every key of every object in ``node``, at any depth."""
    found: set[str] = set()
    stack = [node]
    while stack:
        node = stack.pop()
        if isinstance(node, Mapping):
            found.update(key for key in node if isinstance(key, str))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found
