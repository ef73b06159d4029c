"""Turning a document (JSON object, YAML text, file) into a ``ServiceContract``.

Stages, each reporting ``"<JSONPath>: <message>"`` lines (see ``_paths``):

1. plain JSON: no dates, NaN, non-string keys, absurd depth or size;
2. the JSON Schema, for the dialect the document is written in;
3. the flat dialect rewritten as the nested one;
4. the pydantic model (what the schema cannot say: a capability listed twice);
5. the capabilities' own JSON Schemas, which the router must be able to use.

A contract file may name those schemas by path; ``load_contract_file``
reads them in first (``caio_integration.contracts._files``).

The first stage that finds errors stops the rest. Every failure is an
``InvalidContract``; nothing else escapes, whatever the input.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from caio_integration import _json as jsonwire
from caio_integration._json import JSONDecodeError, loads
from caio_integration.contracts._dialects import normalize_document
from caio_integration.contracts._files import inline_schema_files
from caio_integration.contracts._paths import line, model_error_lines
from caio_integration.contracts._schemarefs import schema_ref_errors
from caio_integration.contracts._validate import dialect_of, json_errors, schema_errors
from caio_integration.contracts.model import ServiceContract
from caio_integration.errors import InvalidContract

__all__ = [
    "canonical_json",
    "contract_errors",
    "load_contract_file",
    "parse_contract",
    "parse_contract_yaml",
]

_SUMMARY_ERRORS = 3


def _invalid(errors: list[str]) -> InvalidContract:
    summary = "; ".join(errors[:_SUMMARY_ERRORS])
    if len(errors) > _SUMMARY_ERRORS:
        summary += f" (and {len(errors) - _SUMMARY_ERRORS} more)"
    return InvalidContract(f"invalid contract: {summary}", details={"errors": errors})


def _check(data: object) -> ServiceContract | list[str]:
    """The contract, or the errors of the first stage that found any."""
    errors = json_errors(data) or schema_errors(data)
    if errors:
        return errors
    if not isinstance(data, dict):  # unreachable: schema_errors refuses anything else
        return [line([], "a contract is a mapping (JSON object)")]
    # A private copy: the frozen model must not share containers with the caller.
    document = normalize_document(copy.deepcopy(data))
    try:
        contract = ServiceContract.model_validate(document["service"])
    except ValidationError as exc:
        note = " (in the nested form of this flat contract)" if dialect_of(data) == "flat" else ""
        return model_error_lines(exc, ("service",), note)
    return schema_ref_errors(contract) or contract


def contract_errors(data: object) -> list[str]:
    """Every problem with ``data`` as ``"<path>: <message>"``; empty when it is valid."""
    result = _check(data)
    return result if isinstance(result, list) else []


def parse_contract(data: object) -> ServiceContract:
    """Validate and normalize a contract of either dialect.

    Raises ``InvalidContract`` with ``details["errors"]`` listing every problem.
    """
    result = _check(data)
    if isinstance(result, list):
        raise _invalid(result)
    return result


class _ContractLoader(yaml.SafeLoader):
    """``yaml.safe_load``, except that a key given twice is an error.

    Plain YAML keeps the last value silently; in a contract that hides
    mistakes (two ``id`` lines, two ``latency`` blocks).
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[object] = set()
        for key_node, _value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # an unhashable key; the base class reports it
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found duplicate key {key!r}",
                    key_node.start_mark,
                )
        return super().construct_mapping(node, deep=deep)


def _yaml_error(exc: yaml.YAMLError, text: str) -> str:
    """``(yaml): line N: problem``, on one line, whatever PyYAML raised."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        where, problem = exc.problem_mark.line + 1, exc.problem or exc.context or "syntax error"
    elif isinstance(exc, yaml.reader.ReaderError):  # a character YAML does not allow
        where = text.count("\n", 0, exc.position) + 1
        character = exc.character
        shown = f"U+{character:04X}" if isinstance(character, int) else repr(character)
        problem = f"character {shown} is not allowed in YAML"
    else:
        return "(yaml): " + " ".join(str(exc).split())
    return f"(yaml): line {where}: " + " ".join(str(problem).split())


def _load_yaml(text: str) -> object:
    if not isinstance(text, str):
        raise _invalid([f"(yaml): expected text, not {type(text).__name__}"])
    try:
        data = yaml.load(text, Loader=_ContractLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise _invalid([_yaml_error(exc, text)]) from None
    except RecursionError:
        raise _invalid(["(yaml): nested too deeply"]) from None
    if data is None:
        raise _invalid([line([], "the document is empty")])
    return data


def parse_contract_yaml(text: str) -> ServiceContract:
    """Parse a YAML (or JSON) contract text; syntax errors name their line."""
    return parse_contract(_load_yaml(text))


def load_contract_file(path: str | os.PathLike[str]) -> ServiceContract:
    """Read a ``.yaml``/``.yml`` or ``.json`` contract file.

    A missing or unreadable file raises ``OSError`` as usual; a file that is
    not UTF-8 or not a valid contract raises ``InvalidContract`` naming it.
    Capability schemas given as paths are read relative to the file.
    """
    name = os.fspath(path)
    raw = Path(name).read_bytes()
    try:
        text = raw.decode("utf-8")
        if name.endswith(".json"):
            try:
                data = loads(text)
            except JSONDecodeError as exc:
                raise _invalid([f"(json): {exc}"]) from None
        else:
            data = _load_yaml(text)
        data, errors = inline_schema_files(data, Path(name).parent)
        if errors:
            raise _invalid(errors)
        return parse_contract(data)
    except UnicodeDecodeError as exc:
        raise InvalidContract(
            f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})",
            details={"errors": [f"(file): not UTF-8 text at byte {exc.start}"], "file": name},
        ) from None
    except InvalidContract as exc:
        raise InvalidContract(
            f"{name}: {exc.message}", details={**exc.details, "file": name}
        ) from None


def canonical_json(contract: ServiceContract) -> bytes:
    """Stable bytes of the normalized contract: equal contracts, equal bytes.

    Keys are sorted (``jsonwire.dumps``), so registering the same contract
    twice, in either dialect or key order, compares equal byte for byte.
    """
    return jsonwire.dumps(contract.to_document())
