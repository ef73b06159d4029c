"""A capability's input and output JSON Schemas: read from files, checked, compiled.

In a contract *file* a capability may name its schemas by path, relative to
the file; ``caio_integration.contracts._files`` reads them in before the contract leaves
the author's machine. The router never sees that disk: a contract that
reaches it with a path is refused, as is one whose schema is not a valid
JSON Schema, so a check the contract promises is a check the router can make.
"""

from __future__ import annotations

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from jsonschema.protocols import Validator

from caio_integration.contracts._files import SCHEMA_KEYS
from caio_integration.contracts._paths import line
from caio_integration.contracts.model import ServiceContract

__all__ = ["compile_output_schemas", "schema_ref_errors"]


def schema_ref_errors(contract: ServiceContract) -> list[str]:
    """Schemas the router cannot use: paths it cannot read, or invalid JSON Schemas."""
    errors: list[str] = []
    for index, capability in enumerate(contract.capabilities):
        for key in SCHEMA_KEYS:
            schema = getattr(capability, key)
            where: list[str | int] = ["service", "capabilities", index, key]
            if isinstance(schema, str):
                errors.append(
                    line(
                        where,
                        f"{schema!r} is a file path, which only a contract file may use: "
                        "send the schema itself (`caio register FILE` reads it for you)",
                    )
                )
            elif schema is not None:
                try:
                    Draft202012Validator.check_schema(schema)
                except SchemaError as exc:
                    errors.append(line(where, f"not a valid JSON Schema: {exc.message}"))
    return errors


def compile_output_schemas(contract: ServiceContract) -> dict[str, Validator]:
    """One compiled validator per capability that declares an output schema."""
    return {
        capability.type: Draft202012Validator(capability.output_schema)
        for capability in contract.capabilities
        if isinstance(capability.output_schema, dict)
    }
