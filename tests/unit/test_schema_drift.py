"""The JSON Schema and the pydantic model describe the same contract, field for field.

The walk starts at ``ServiceContract`` and the schema's nested ``service``
and follows both down: every field must exist on both sides with the same
type, the same enum values, the same requiredness, the same numeric and
length limits, and the same openness to extra keys. A field added to one
side only fails here.
"""

from __future__ import annotations

import copy
import types
import typing
from typing import Any, Literal

import pytest
from pydantic import AfterValidator, BaseModel

from caio_integration.contracts import contract_schema
from caio_integration.contracts.model import X_KEY, ServiceContract
from caio_integration.subjects import SAFE_TOKEN

Schema = dict[str, Any]

_SCALARS: dict[type, str] = {str: "string", bool: "boolean", int: "integer", float: "number"}
_LIMITS = {
    "ge": "minimum",
    "le": "maximum",
    "min_length": "min",  # minLength / minItems, by type
    "max_length": "max",
}


def _resolve(node: Schema, defs: Schema) -> Schema:
    """Follow ``$ref``s; keywords beside a ``$ref`` apply too (2020-12), so they are kept."""
    while "$ref" in node:
        siblings = {key: value for key, value in node.items() if key != "$ref"}
        node = {**defs[node["$ref"].removeprefix("#/$defs/")], **siblings}
    return node


def _split(annotation: Any) -> tuple[Any, list[Any], bool]:
    """``(bare type, metadata, nullable)`` with Annotated and ``| None`` peeled off."""
    metadata: list[Any] = []
    nullable = False
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation, *more = typing.get_args(annotation)
            for item in more:
                metadata.extend(getattr(item, "metadata", [item]))
        elif origin in (typing.Union, types.UnionType):
            args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
            nullable = True
            if len(args) != 1:
                return annotation, metadata, nullable
            annotation = args[0]
        else:
            return annotation, metadata, nullable


def _limits_of(metadata: list[Any], kind: str) -> dict[str, Any]:
    limits: dict[str, Any] = {}
    for item in metadata:
        for attribute, keyword in _LIMITS.items():
            value = getattr(item, attribute, None)
            if value is None:
                continue
            if keyword in ("min", "max"):
                keyword += "Items" if kind == "array" else "Length"
            limits[keyword] = value
        if getattr(item, "gt", None) is not None:  # only integers use gt: > 0 is >= 1
            limits["minimum"] = item.gt + 1
    return limits


def _is_safe_token(metadata: list[Any]) -> bool:
    return any(
        isinstance(item, AfterValidator) and item.func.__name__ == "_safe_token"
        for item in metadata
    )


def drift(model: type[BaseModel], node: Schema, defs: Schema, where: str) -> list[str]:
    """Every difference between ``model`` and the schema ``node``, as readable lines."""
    node = _resolve(node, defs)
    problems: list[str] = []
    properties: Schema = node.get("properties", {})
    fields = model.model_fields
    for name in sorted(set(fields) - set(properties)):
        problems.append(f"{where}.{name}: in the model, not in the schema")
    for name in sorted(set(properties) - set(fields)):
        problems.append(f"{where}.{name}: in the schema, not in the model")
    required = {name for name, info in fields.items() if info.is_required()}
    if required != set(node.get("required", [])):
        problems.append(f"{where}: required {sorted(required)} vs {node.get('required', [])}")
    problems += _openness(model, node, defs, where)
    for name in sorted(set(fields) & set(properties)):
        info = fields[name]
        problems += _compare(
            info.annotation, info.metadata, properties[name], defs, f"{where}.{name}"
        )
    return problems


def _openness(model: type[BaseModel], node: Schema, defs: Schema, where: str) -> list[str]:
    model_open = model.model_config.get("extra") == "allow"
    additional = node.get("additionalProperties", True)
    schema_open = additional is not False or bool(node.get("patternProperties"))
    if model_open != schema_open:
        return [f"{where}: extra keys {'allowed' if model_open else 'forbidden'} by the model only"]
    if not model_open:
        return []
    extra_type = typing.get_type_hints(model, include_extras=True).get("__pydantic_extra__")
    if extra_type is None:  # untyped extras: x-<name> extensions, anything but null
        patterns = node.get("patternProperties", {})
        expected = {f"^{X_KEY.pattern}$": {"$ref": "#/$defs/not_null"}}
        if additional is False and patterns == expected:
            return []
        return [f"{where}: extensions should be x- keys ({expected}), nothing else"]
    value_type = typing.get_args(extra_type)[1]
    if node.get("patternProperties"):
        extra_schemas: Schema = node["patternProperties"]
    elif isinstance(additional, dict):
        extra_schemas = {"*": additional}
    else:
        return [f"{where}: typed extras in the model, any extra key in the schema"]
    problems: list[str] = []
    for pattern, sub in extra_schemas.items():
        problems += _compare(value_type, [], sub, defs, f"{where}[{pattern}]")
    return problems


def _compare(
    annotation: Any, metadata: list[Any], node: Schema, defs: Schema, where: str
) -> list[str]:
    bare, more, _nullable = _split(annotation)
    metadata = [*metadata, *more]
    node = _resolve(node, defs)
    origin = typing.get_origin(bare)
    if isinstance(bare, type) and issubclass(bare, BaseModel):
        return drift(bare, node, defs, where)
    if origin is Literal:
        values = set(typing.get_args(bare))
        return (
            []
            if values == set(node.get("enum", []))
            else [f"{where}: enum {values} vs {node.get('enum')}"]
        )
    if origin is list:
        problems = _type_check(node, "array", where) + _limit_check(metadata, node, "array", where)
        (item,) = typing.get_args(bare)
        return problems + _compare(item, [], node.get("items", {}), defs, f"{where}[]")
    if origin is dict:
        return _type_check(node, "object", where)
    if origin in (typing.Union, types.UnionType):  # e.g. a schema, or a path to one
        kinds = {
            "object" if typing.get_origin(arg) is dict else _SCALARS.get(_split(arg)[0], "?")
            for arg in typing.get_args(bare)
            if arg is not type(None)
        }
        types_in_schema = node.get("type")
        listed = set(types_in_schema) if isinstance(types_in_schema, list) else {types_in_schema}
        return [] if kinds == listed else [f"{where}: model {kinds}, schema {listed}"]
    if bare in _SCALARS:
        kind = _SCALARS[bare]
        problems = _type_check(node, kind, where) + _limit_check(metadata, node, kind, where)
        if (node.get("pattern") == SAFE_TOKEN.pattern) != _is_safe_token(metadata):
            problems.append(f"{where}: safe-name check on one side only")
        return problems
    return [f"{where}: the drift test does not know the type {bare!r}"]


def _type_check(node: Schema, kind: str, where: str) -> list[str]:
    return [] if node.get("type") == kind else [f"{where}: model {kind}, schema {node.get('type')}"]


def _limit_check(metadata: list[Any], node: Schema, kind: str, where: str) -> list[str]:
    model_limits = _limits_of(metadata, kind)
    keywords = {"minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems"}
    schema_limits = {key: value for key, value in node.items() if key in keywords}
    if model_limits != schema_limits:
        return [f"{where}: limits {model_limits} in the model, {schema_limits} in the schema"]
    return []


@pytest.fixture
def schema() -> Schema:
    return copy.deepcopy(contract_schema())


def test_the_model_and_the_nested_schema_have_the_same_fields(schema: Schema) -> None:
    defs = schema["$defs"]
    assert drift(ServiceContract, defs["service"], defs, "service") == []


def test_the_schema_accepts_exactly_the_two_dialects(schema: Schema) -> None:
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["oneOf"] == [
        {"$ref": "#/$defs/nested_contract"},
        {"$ref": "#/$defs/flat_contract"},
    ]
    assert schema["$defs"]["nested_contract"]["required"] == ["service"]
    assert schema["$defs"]["nested_contract"]["additionalProperties"] is False


def test_the_flat_constraints_mean_what_the_nested_ones_mean(schema: Schema) -> None:
    defs = schema["$defs"]
    flat, nested = defs["flat_constraints"]["properties"], defs["constraints"]["properties"]
    for name in set(flat) & set(nested) - {"context_length"}:
        assert flat[name] == nested[name], name
    assert (
        defs["flat_constraints"]["additionalProperties"]
        == defs["constraints"]["additionalProperties"]
    )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d["api"]["properties"].pop("base_url"), "service.api.base_url: in the model"),
        (
            lambda d: d["service"]["properties"].update(owner={"type": "string"}),
            "service.owner: in the schema",
        ),
        (
            lambda d: d["api"]["properties"]["protocol"]["enum"].append("ftp"),
            "service.api.protocol: enum",
        ),
        (
            lambda d: d["cost"]["properties"]["model"]["enum"].remove("free"),
            "service.cost.model: enum",
        ),
        (lambda d: d.__setitem__("fraction", {"type": "number", "minimum": 0}), "limits"),
        (
            lambda d: d["privacy"].__setitem__("additionalProperties", True),
            "service.privacy: extensions should be x- keys",
        ),
        (
            lambda d: d["constraints"].pop("patternProperties"),
            "service.constraints: extra keys allowed by the model only",
        ),
        (
            lambda d: d["capability"]["properties"]["output_schema"].__setitem__(
                "$ref", "#/$defs/non_negative"
            ),
            "service.capabilities[].output_schema: model",
        ),
        (lambda d: d["endpoint"]["required"].clear(), "service.api.endpoints[]: required"),
        (lambda d: d["safe_name"].pop("pattern"), "service.id: safe-name check"),
        (
            lambda d: d["rate_limit"]["properties"].update(
                per_hour={"type": "number", "minimum": 1}
            ),
            "service.constraints.rate_limit.per_hour: model integer",
        ),
        (lambda d: d["cost"]["patternProperties"].clear(), "service.cost"),
        (lambda d: d["guarantees"].__setitem__("additionalProperties", True), "service.guarantees"),
    ],
)
def test_the_drift_walk_notices_a_change_on_one_side(
    schema: Schema, change: Any, expected: str
) -> None:
    defs = schema["$defs"]
    change(defs)
    problems = drift(ServiceContract, defs["service"], defs, "service")
    assert any(expected in problem for problem in problems), problems
