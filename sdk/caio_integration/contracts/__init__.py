"""Service contracts: the schema-checked, normalized model of what a service promises.

``schemas/service_contract.schema.json`` is the source of truth; both
dialects (nested and flat) become one ``ServiceContract``. Errors are
``InvalidContract`` with ``details["errors"]`` as ``"<JSONPath>: <message>"``
lines (``$.service.capabilities[0].type: ...``). See docs/contracts.md.
"""

from caio_integration.contracts._parse import (
    canonical_json,
    contract_errors,
    load_contract_file,
    parse_contract,
    parse_contract_yaml,
)
from caio_integration.contracts._resources import contract_schema, schema_path
from caio_integration.contracts._schemarefs import compile_output_schemas
from caio_integration.contracts.model import ServiceContract

__all__ = [
    "ServiceContract",
    "canonical_json",
    "compile_output_schemas",
    "contract_errors",
    "contract_schema",
    "load_contract_file",
    "parse_contract",
    "parse_contract_yaml",
    "schema_path",
]
