"""An endpoint's JSON Schema, with its validator built once when the bridge starts.

jsonschema still interprets the schema on every call (on the example chat
contract about 70 µs a request for input and output, bench/client_cost.py).
A faster validator would be a real library's, never one written here:
fastjsonschema compiles schemas but knows drafts up to 7 only, and
contracts are draft 2020-12.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator

__all__ = ["MAX_SCHEMA_ERRORS", "Schema"]

MAX_SCHEMA_ERRORS = 5  # in one reply: enough to fix the input, not a wall of text


class Schema:
    """A checked JSON Schema: ``problems(value, root)`` lists what is wrong, if anything."""

    __slots__ = ("validator",)

    def __init__(self, schema: Mapping[str, Any] | bool) -> None:
        self.validator = Draft202012Validator(schema)

    def problems(self, value: Any, root: str) -> list[str]:
        """Up to ``MAX_SCHEMA_ERRORS`` lines ``<root><path>: <why>``, sorted; [] when valid."""
        problems = []
        for error in self.validator.iter_errors(value):
            where = "".join(
                f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path
            )
            problems.append(f"{root}{where}: {error.message}"[:300])
            if len(problems) == MAX_SCHEMA_ERRORS:
                break
        return sorted(problems)
