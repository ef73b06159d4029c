"""Properties over generated contracts: round trips, total error handling, safe names."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from caio_integration.contracts import (
    canonical_json,
    contract_errors,
    parse_contract,
    parse_contract_yaml,
)
from caio_integration.errors import InvalidContract
from caio_integration.subjects import SAFE_TOKEN

# Modest counts: the machine is shared. No example database: nothing written to the checkout.
PROPERTY = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- building blocks ------------------------------------------------------------

safe_names = st.from_regex(SAFE_TOKEN.pattern.replace("$", r"\Z"), fullmatch=True)
texts = st.text(max_size=12)
non_negative = st.integers(0, 10**9) | st.floats(0, 1e9, allow_nan=False, allow_infinity=False)
fractions = st.floats(0, 1) | st.sampled_from([0, 1])
positive_ints = st.integers(1, 2**31)
json_scalars = (
    st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts
)
json_values = st.recursive(
    st.none() | json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)
# Extension values: anything JSON but a top-level null (it would not round-trip).
non_null_values = json_values.filter(lambda value: value is not None)
extension_keys = st.from_regex(r"\Ax-[a-z0-9][a-z0-9_.-]{0,10}\Z")


def extras(known: set[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(extension_keys, non_null_values, max_size=2)


def with_extras(
    base: st.SearchStrategy[dict[str, Any]], known: set[str]
) -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(lambda fields, more: {**more, **fields}, base, extras(known))


def optional(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional=fields)


bounds = with_extras(
    optional(max=non_negative, min=non_negative, p99_max=non_negative, seed_required=st.booleans()),
    {"max", "min"},
)
guarantee = st.fixed_dictionaries(
    {"property": texts}, optional={"bound": bounds, "invariant": texts}
)
json_schemas = st.sampled_from(
    [{}, {"type": "object"}, {"type": "object", "required": ["answer"]}, {"enum": [1, "a"]}]
)
capability = with_extras(
    st.fixed_dictionaries(
        {"type": safe_names},
        optional={
            "accuracy": optional(min=fractions, target=fractions),
            "capacity": st.dictionaries(texts, json_values, max_size=2),
            "input_schema": json_schemas,
            "output_schema": json_schemas,
        },
    ),
    set(),
)
unit_prices = st.dictionaries(st.from_regex(r"\Aper_(image|second|page)\Z"), non_negative)
nested_cost = st.builds(
    lambda fields, prices: {**prices, **fields},
    optional(
        model=st.sampled_from(["per_token", "per_request", "free"]),
        token_cost=non_negative,
        request_cost=non_negative,
        currency=texts,
    ),
    unit_prices,
)
named_guarantees = optional(latency=guarantee, accuracy=guarantee, determinism=guarantee)
nested_guarantees = st.builds(
    lambda named, more: {**more, **named},
    named_guarantees,
    st.dictionaries(st.sampled_from(["availability", "throughput"]), guarantee),
)
constraints = with_extras(
    optional(
        max_concurrent_requests=positive_ints,
        rate_limit=optional(per_minute=positive_ints, per_hour=positive_ints),
        context_length=optional(max_tokens=positive_ints),
        requires_internet=st.booleans(),
        supported_languages=st.lists(st.text(min_size=1, max_size=5), max_size=3),
        max_images=positive_ints,
    ),
    set(),
)
endpoint = st.fixed_dictionaries(
    {"path": texts}, optional={"method": texts, "input_schema": texts, "output_schema": texts}
)
invariant = with_extras(
    st.fixed_dictionaries(
        {"id": texts},
        optional={"description": texts, "formula": texts, "verification": texts, "artifact": texts},
    ),
    {"id", "description", "formula", "verification", "artifact"},
)
nested_required: dict[str, st.SearchStrategy[Any]] = {
    "id": safe_names,
    "name": st.text(min_size=1, max_size=30),
    "version": st.text(min_size=1, max_size=10),
    "capabilities": st.lists(
        capability, min_size=1, max_size=4, unique_by=lambda c: str(c["type"])
    ),
}
nested_contracts = st.fixed_dictionaries(
    nested_required,
    optional={
        "description": texts,
        "guarantees": nested_guarantees,
        "cost": nested_cost,
        "privacy": optional(
            data_locality=st.sampled_from(["cloud", "on_prem", "eu"]),
            encryption=st.booleans(),
            encryption_type=texts,
            data_retention=texts,
            gdpr_compliant=st.booleans(),
            hipaa_compliant=st.booleans(),
        ),
        "alignment": with_extras(
            optional(safety_level=texts, content_filtering=st.booleans()),
            {"safety_level", "content_filtering", "bias_mitigation", "toxicity_filtering"},
        ),
        "constraints": constraints,
        "api": optional(
            protocol=st.sampled_from(["http", "grpc", "nats", "native"]),
            base_url=texts,
            endpoints=st.lists(endpoint, max_size=3),
        ),
        "invariants": st.lists(invariant, max_size=2),
        "metadata": st.dictionaries(texts, json_values, max_size=3),
    },
).map(lambda service: {"service": service})

flat_cost = st.builds(
    lambda prices, fields: {**prices, **fields},
    unit_prices,
    st.fixed_dictionaries({"per_token": non_negative}, optional={"per_request": non_negative})
    | st.fixed_dictionaries({"per_request": non_negative}, optional={"currency": texts}),
)
flat_contracts = with_extras(
    st.fixed_dictionaries(
        {
            "service_id": safe_names,
            "name": st.text(min_size=1, max_size=30),
            "version": st.text(min_size=1, max_size=10),
            "capabilities": st.lists(safe_names, min_size=1, max_size=4, unique=True),
        },
        optional={
            "description": texts,
            "guarantees": optional(
                latency=st.fixed_dictionaries(
                    {"p95_ms": non_negative}, optional={"p99_ms": non_negative}
                ),
                accuracy=st.fixed_dictionaries({"min": fractions}),
                availability=st.fixed_dictionaries({"target": st.floats(0, 100)}),
            ),
            "constraints": with_extras(
                optional(
                    max_tokens=positive_ints,
                    requires_internet=st.booleans(),
                    supported_languages=st.lists(st.text(min_size=1, max_size=5), max_size=3),
                ),
                set(),
            ),
            "cost": flat_cost,
            "metadata": st.dictionaries(texts, json_values, max_size=3),
        },
    ),
    set(),
)
contracts = nested_contracts | flat_contracts


# -- (a) valid contracts round-trip ------------------------------------------------


@PROPERTY
@given(contracts)
def test_any_valid_contract_is_a_fixed_point_of_normalization(document: dict[str, Any]) -> None:
    assert contract_errors(document) == []
    contract = parse_contract(document)
    again = parse_contract(contract.to_document())
    assert again == contract
    assert canonical_json(again) == canonical_json(contract)


@PROPERTY
@given(contracts)
def test_canonical_json_survives_the_wire_and_key_order(document: dict[str, Any]) -> None:
    contract = parse_contract(document)
    wire = canonical_json(contract)
    assert parse_contract(orjson.loads(wire)) == contract
    reordered = _reverse_keys(document)
    assert canonical_json(parse_contract(reordered)) == wire


def _reverse_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _reverse_keys(value[key]) for key in reversed(list(value))}
    if isinstance(value, list):
        return [_reverse_keys(item) for item in value]
    return value


# -- (b) garbage never raises anything but InvalidContract --------------------------

odd_values = st.sampled_from(
    [float("nan"), float("inf"), 2**80, b"bytes", (1, 2), frozenset({1}), object()]
)
garbage = st.recursive(
    st.none() | json_scalars | odd_values,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(texts | st.integers(), inner, max_size=4)
        | st.dictionaries(st.sampled_from(["service", "service_id", "capabilities", "id"]), inner)
    ),
    max_leaves=12,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


@st.composite
def mutated_contracts(draw: st.DrawFn) -> Any:
    """A valid contract with one value anywhere in it replaced by garbage."""
    document: Any = copy.deepcopy(draw(contracts))
    path = draw(st.sampled_from(_paths(document)))
    replacement = draw(garbage)
    if not path:
        return replacement
    node: Any = document
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = replacement
    return document


def _assert_only_invalid_contract(document: object) -> None:
    errors = contract_errors(document)
    assert all(isinstance(error, str) and error[:1] in "$(" for error in errors)
    if not errors:
        parse_contract(document)
        return
    with pytest.raises(InvalidContract) as caught:
        parse_contract(document)
    assert caught.value.details["errors"] == errors


@PROPERTY
@given(garbage | mutated_contracts())
def test_garbage_never_raises_anything_but_invalid_contract(document: object) -> None:
    _assert_only_invalid_contract(document)


@PROPERTY
@given(st.text(max_size=200) | contracts.map(lambda d: orjson.dumps(d).decode()[:-3]))
def test_garbage_yaml_never_raises_anything_but_invalid_contract(text: str) -> None:
    errors: list[str] = []
    try:
        parse_contract_yaml(text)
    except InvalidContract as exc:
        errors = exc.details["errors"]
    assert all(isinstance(error, str) and "\n" not in error for error in errors)


# -- (c) unsafe names are always rejected ---------------------------------------------

unsafe_names = st.text(max_size=70).filter(lambda name: not SAFE_TOKEN.fullmatch(name)) | st.builds(
    lambda head, bad, tail: head + bad + tail,
    st.text("abc0_-", max_size=5),
    st.sampled_from([".", "*", ">", " ", "\t", "\n", "A", "Z", "é", "/", "$", "\x00"]),
    st.text("abc0_-", max_size=5),
)
BASE_NESTED = {
    "service": {"id": "ok", "name": "n", "version": "1", "capabilities": [{"type": "ok"}]}
}
BASE_FLAT = {"service_id": "ok", "name": "n", "version": "1", "capabilities": ["ok"]}


@pytest.mark.parametrize(
    ("base", "path", "reported"),
    [
        (BASE_NESTED, ("service", "id"), "$.service.id"),
        (BASE_NESTED, ("service", "capabilities", 0, "type"), "$.service.capabilities[0].type"),
        (BASE_FLAT, ("service_id",), "$.service_id"),
        (BASE_FLAT, ("capabilities", 0), "$.capabilities[0]"),
    ],
)
@PROPERTY
@given(name=unsafe_names)
def test_an_unsafe_name_is_always_rejected_at_its_path(
    base: dict[str, Any], path: tuple[Any, ...], reported: str, name: str
) -> None:
    document = copy.deepcopy(base)
    node: Any = document
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = name
    errors = contract_errors(document)
    assert [error.split(": ", 1)[0] for error in errors] == [reported]


# -- the schema and the model agree ------------------------------------------------------


@PROPERTY
@given(mutated_contracts())
def test_what_the_schema_accepts_the_model_accepts_too(document: object) -> None:
    from caio_integration.contracts._validate import json_errors, schema_errors

    if json_errors(document) or schema_errors(document):
        return
    # The one rule JSON Schema cannot state: a capability type listed twice.
    assert all("is listed twice" in error for error in contract_errors(document))


# -- (d) an unknown key is refused at its path, whatever object it is in -----------


# Objects that hold anything, or whose extra keys mean something (guarantees, prices).
FREE = {"metadata", "capacity", "input_schema", "output_schema", "guarantees", "cost"}


def _objects(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths of the objects that take only known keys and x- extensions."""
    if isinstance(value, list):
        return [path for i, item in enumerate(value) for path in _objects(item, (*prefix, i))]
    if not isinstance(value, dict):
        return []
    found = [prefix]
    for key, item in value.items():
        if key not in FREE and not key.startswith("x-"):  # extensions hold anything
            found += _objects(item, (*prefix, key))
    return found


@PROPERTY
@given(st.data(), contracts, st.from_regex(r"\A[a-w][a-z_]{0,12}\Z"))
def test_an_unknown_key_anywhere_is_refused_at_its_path(
    data: st.DataObject, document: dict[str, Any], key: str
) -> None:
    document = copy.deepcopy(document)
    path = data.draw(st.sampled_from(_objects(document)))
    node: Any = document
    for part in path:
        node = node[part]
    if key in node or (path and path[-1] == "guarantees"):
        return
    node[key] = 1

    errors = contract_errors(document)

    assert errors, f"{key!r} at {path} was accepted"
    assert any(key in error for error in errors), errors
