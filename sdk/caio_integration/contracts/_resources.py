"""Where the contract schema lives, and its compiled validator.

A checkout (editable install) keeps it at the top level (``schemas/``); a
wheel carries a copy under ``caio_integration/_data/schemas`` (see
``caio_integration._datafiles``). The checkout wins, so editing the schema takes
effect without reinstalling.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, ValidationError, validators
from jsonschema.protocols import Validator

from caio_integration._datafiles import data_dir
from caio_integration._json import loads

__all__ = [
    "SCHEMA_FILENAME",
    "contract_schema",
    "contract_validator",
    "schema_path",
]

SCHEMA_FILENAME = "service_contract.schema.json"


def schema_path() -> Path:
    """The JSON Schema file every contract is checked against."""
    return data_dir("schemas") / SCHEMA_FILENAME


@functools.cache
def contract_schema() -> dict[str, Any]:
    """The parsed schema (cached: read once per process)."""
    schema: dict[str, Any] = loads(schema_path().read_bytes())
    return schema


# -- the validator ---------------------------------------------------------
# Two deliberate departures from plain Draft 2020-12 in Python, both so that
# the schema rejects exactly what the (strict) pydantic model rejects and
# errors come from one stage with the document's own paths:
#   * "integer" excludes floats: 4096.0 is not a token count (pydantic strict).
#   * "pattern" gives "$" its ECMA-262 meaning (end of string): Python's "$"
#     also matches before a trailing newline, which would let "abc\n" pass as
#     a subject token.


def _is_strict_int(_checker: object, instance: object) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


@functools.lru_cache(maxsize=64)
def _ecma_regex(pattern: str) -> re.Pattern[str]:
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern)


def _pattern(
    validator: Validator, pattern: str, instance: object, _schema: dict[str, Any]
) -> Iterator[ValidationError]:
    if isinstance(instance, str) and not _ecma_regex(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


# The stubs leave validators.extend untyped; its result is a Validator class.
_ContractValidator = validators.extend(  # type: ignore[no-untyped-call]
    Draft202012Validator,
    validators={"pattern": _pattern},
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_strict_int),
)


@functools.cache
def contract_validator() -> Validator:
    """The compiled Draft 2020-12 validator for the contract schema (cached)."""
    schema = contract_schema()
    Draft202012Validator.check_schema(schema)  # a broken schema file fails loudly, once
    validator: Validator = _ContractValidator(schema)
    return validator
