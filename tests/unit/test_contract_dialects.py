"""The flat and the nested dialect become one model where they say the same thing."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from caio_integration.contracts import canonical_json, parse_contract, parse_contract_yaml


def nested(**service: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "svc-1",
        "name": "Service One",
        "version": "1.0.0",
        "capabilities": [{"type": "text_generation"}],
    }
    body.update(service)
    return {"service": body}


def flat(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "service_id": "svc-1",
        "name": "Service One",
        "version": "1.0.0",
        "capabilities": ["text_generation"],
    }
    body.update(fields)
    return body


def test_the_smallest_contracts_of_both_dialects_are_equal() -> None:
    assert parse_contract(flat()) == parse_contract(nested())


def test_a_flat_latency_becomes_a_p95_bound_and_keeps_p99() -> None:
    from_flat = parse_contract(flat(guarantees={"latency": {"p95_ms": 100, "p99_ms": 200}}))
    from_nested = parse_contract(
        nested(
            guarantees={
                "latency": {"property": "p95_latency_ms", "bound": {"max": 100, "p99_max": 200}}
            }
        )
    )
    assert from_flat == from_nested
    assert from_flat.p95_latency_ms == 100


def test_a_flat_accuracy_becomes_the_service_accuracy_bound() -> None:
    from_flat = parse_contract(flat(guarantees={"accuracy": {"min": 0.9}}))
    from_nested = parse_contract(
        nested(guarantees={"accuracy": {"property": "accuracy", "bound": {"min": 0.9}}})
    )
    assert from_flat == from_nested
    assert from_flat.accuracy_for("text_generation") == 0.9


def test_a_flat_availability_becomes_an_extra_guarantee() -> None:
    contract = parse_contract(flat(guarantees={"availability": {"target": 99.9}}))
    extra = contract.guarantees.model_extra
    assert extra is not None
    assert extra["availability"].property == "availability_pct"
    assert extra["availability"].bound.min == 99.9
    same = nested(
        guarantees={"availability": {"property": "availability_pct", "bound": {"min": 99.9}}}
    )
    assert parse_contract(same) == contract


def test_flat_max_tokens_becomes_the_context_length_and_other_constraints_stay() -> None:
    from_flat = parse_contract(
        flat(
            constraints={
                "max_tokens": 4096,
                "supported_languages": ["en"],
                "rate_limit": {"per_minute": 5},
            }
        )
    )
    from_nested = parse_contract(
        nested(
            constraints={
                "context_length": {"max_tokens": 4096},
                "supported_languages": ["en"],
                "rate_limit": {"per_minute": 5},
            }
        )
    )
    assert from_flat == from_nested
    assert from_flat.context_tokens == 4096


@pytest.mark.parametrize(
    ("flat_cost", "nested_cost", "per_token"),
    [
        ({"per_token": 0.1}, {"model": "per_token", "token_cost": 0.1}, 0.1),
        ({"per_request": 0.5}, {"model": "per_request", "request_cost": 0.5}, None),
        (
            {"per_request": 0.5, "per_token": 0.1, "per_image": 2, "currency": "EUR"},
            {
                "model": "per_token",
                "token_cost": 0.1,
                "request_cost": 0.5,
                "per_image": 2,
                "currency": "EUR",
            },
            0.1,
        ),
    ],
)
def test_flat_prices_become_the_cost_model(
    flat_cost: dict[str, Any], nested_cost: dict[str, Any], per_token: float | None
) -> None:
    from_flat = parse_contract(flat(cost=flat_cost))
    assert from_flat == parse_contract(nested(cost=nested_cost))
    assert from_flat.cost_per_token == per_token


def test_a_free_service_costs_nothing_per_token() -> None:
    assert parse_contract(nested(cost={"model": "free"})).cost_per_token == 0.0


def test_a_capability_accuracy_wins_over_the_service_accuracy() -> None:
    contract = parse_contract(
        nested(
            capabilities=[{"type": "a", "accuracy": {"min": 0.7}}, {"type": "b"}],
            guarantees={"accuracy": {"property": "accuracy", "bound": {"min": 0.9}}},
        )
    )
    assert contract.accuracy_for("a") == 0.7
    assert contract.accuracy_for("b") == 0.9
    assert contract.accuracy_for("unknown") == 0.9


def test_the_simple_template_reads_like_its_nested_twin() -> None:
    template = """
service_id: my-service
name: My AI Service
version: 1.0.0
capabilities: [text_generation, text_embedding]
guarantees:
  latency: {p95_ms: 100, p99_ms: 200}
  accuracy: {min: 0.95}
constraints:
  max_tokens: 4096
  supported_languages: [en, es]
cost: {per_request: 0.001, per_token: 0.0001}
"""
    twin = """
service:
  id: my-service
  name: My AI Service
  version: 1.0.0
  capabilities: [{type: text_generation}, {type: text_embedding}]
  guarantees:
    latency: {property: p95_latency_ms, bound: {max: 100, p99_max: 200}}
    accuracy: {property: accuracy, bound: {min: 0.95}}
  constraints:
    context_length: {max_tokens: 4096}
    supported_languages: [en, es]
  cost: {model: per_token, token_cost: 0.0001, request_cost: 0.001}
"""
    from_flat, from_nested = parse_contract_yaml(template), parse_contract_yaml(twin)
    assert from_flat == from_nested
    assert canonical_json(from_flat) == canonical_json(from_nested)


def test_a_normalized_flat_contract_parses_back_to_itself() -> None:
    contract = parse_contract(
        flat(
            description="d",
            guarantees={"latency": {"p95_ms": 5, "p99_ms": 9}, "availability": {"target": 99}},
            constraints={"max_tokens": 10, "max_images": 4},
            cost={"per_token": 0.2, "per_image": 1},
            metadata={"tags": ["x"]},
        )
    )
    document = contract.to_document()
    assert "service" in document
    assert parse_contract(document) == contract


def test_canonical_json_ignores_key_order_and_integer_spelling() -> None:
    one = nested(guarantees={"latency": {"property": "p95_latency_ms", "bound": {"max": 100}}})
    two = {"service": dict(reversed(list(copy.deepcopy(one)["service"].items())))}
    two["service"]["guarantees"]["latency"]["bound"]["max"] = 100.0
    assert canonical_json(parse_contract(one)) == canonical_json(parse_contract(two))


def test_parsing_does_not_share_containers_with_the_caller() -> None:
    document = nested(metadata={"tags": ["a"]})
    contract = parse_contract(document)
    document["service"]["metadata"]["tags"].append("b")
    assert contract.metadata == {"tags": ["a"]}
