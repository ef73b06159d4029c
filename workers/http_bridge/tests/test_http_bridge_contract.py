"""What a contract must say for the bridge to serve it, checked before anything connects.

The ``api`` section's new keys (capability, headers, auth, defaults,
stream) belong to the contract schema and model, which still accept both
seed dialects as written; the bridge adds what only it needs: protocol
http, a base URL, and exactly one endpoint for every capability.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from http_bridge_support import EXAMPLES

from caio_http_bridge import HttpBridgeService
from caio_integration.contracts import contract_errors, load_contract_file, parse_contract
from caio_integration.errors import InvalidContract

SEED_001 = (
    Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "seeds" / "codex-seed-001.yaml"
)


def contract(*endpoints: dict[str, Any], **api: Any) -> dict[str, Any]:
    return {
        "service": {
            "id": "two-things",
            "name": "Two things",
            "version": "1.0.0",
            "capabilities": [{"type": "first"}, {"type": "second"}],
            "api": {
                "protocol": "http",
                "base_url": "http://127.0.0.1:9",
                "endpoints": list(endpoints),
                **api,
            },
        }
    }


def bridge_errors(document: dict[str, Any], tmp_path: Path) -> list[str]:
    path = tmp_path / "contract.yaml"
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(InvalidContract) as refused:
        HttpBridgeService().initialize(path)
    errors: list[str] = refused.value.details["errors"]
    return errors


FIRST = {"capability": "first", "path": "/first"}
SECOND = {"capability": "second", "path": "/second"}


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (
            contract(FIRST),
            [
                "$.service.capabilities[1].type: no endpoint serves 'second'; "
                "give one endpoint `capability: second`"
            ],
        ),
        (
            contract(FIRST, SECOND, {"capability": "first", "path": "/again"}),
            [
                "$.service.api.endpoints[2].capability: 'first' is served by "
                "$.service.api.endpoints[0] already"
            ],
        ),
        (
            contract(FIRST, SECOND, {"capability": "third", "path": "/third"}),
            [
                "$.service.api.endpoints[2].capability: 'third' is not a capability of this "
                "contract (first, second)"
            ],
        ),
        (
            contract(FIRST, {**SECOND, "method": "FETCH", "path": "second"}),
            [
                "$.service.api.endpoints[1].method: 'FETCH' is not one of "
                "['DELETE', 'GET', 'PATCH', 'POST', 'PUT']",
                "$.service.api.endpoints[1].path: 'second' must start with '/'",
            ],
        ),
        (
            contract(FIRST, {**SECOND, "method": "GET", "stream": {"format": "sse"}}),
            [
                "$.service.api.endpoints[1].stream: a GET request has no body to set the stream "
                "flag in"
            ],
        ),
        (
            contract(FIRST, SECOND, base_url="ftp://models.example"),
            [
                "$.service.api.base_url: 'ftp://models.example' is not an http:// or https:// "
                "URL with a host"
            ],
        ),
        (
            contract(FIRST, SECOND, base_url="https://models.example/v1?key=abc"),
            [
                "$.service.api.base_url: a base URL has no query or fragment (a key in it would "
                "be a credential)"
            ],
        ),
    ],
)
def test_a_contract_the_bridge_cannot_serve_is_refused_with_every_reason(
    document: dict[str, Any], expected: list[str], tmp_path: Path
) -> None:
    assert contract_errors(document) == []  # a valid contract: only the bridge objects
    assert bridge_errors(document, tmp_path) == expected


def test_a_contract_without_an_http_api_is_not_the_bridges(tmp_path: Path) -> None:
    document = contract(FIRST, SECOND)
    document["service"]["api"]["protocol"] = "nats"

    assert bridge_errors(document, tmp_path) == [
        "$.service.api: protocol http is required, found api.protocol 'nats'"
    ]


def test_a_base_url_given_at_start_replaces_the_contracts(tmp_path: Path) -> None:
    service = HttpBridgeService(base_url="http://10.1.2.3:8000/v1")
    service.initialize(EXAMPLES / "openai-compatible-chat.yaml")

    assert service.plan().base_url == "http://10.1.2.3:8000/v1"
    assert service.contract.api is not None
    assert service.contract.api.base_url == "http://127.0.0.1:8000/v1"  # registered as written


def test_the_seed_001_contract_is_still_accepted_as_written() -> None:
    seed = load_contract_file(SEED_001)

    assert seed.api is not None
    assert [(e.path, e.method, e.capability) for e in seed.api.endpoints] == [
        ("/generate", "POST", None),
        ("/review", "POST", None),
        ("/health", "GET", None),
    ]


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_every_example_is_a_fixed_point_and_plans_a_route_per_capability(path: Path) -> None:
    loaded = load_contract_file(path)
    service = HttpBridgeService()
    service.initialize(path)

    assert parse_contract(loaded.to_document()) == loaded
    assert set(service.plan().routes) == set(loaded.capability_names)


@pytest.mark.parametrize(
    ("endpoint", "reported"),
    [
        ({"stream": {"format": "websocket"}}, "$.service.api.endpoints[0].stream.format"),
        ({"stream": {"flag": ""}}, "$.service.api.endpoints[0].stream.flag"),
        ({"stream": {"fromat": "sse"}}, "$.service.api.endpoints[0].stream.fromat: unknown key"),
        ({"capability": "Not.Safe"}, "$.service.api.endpoints[0].capability"),
        ({"headers": {"bad header": "x"}}, "$.service.api.endpoints[0].headers"),
        ({"headers": {"x-n": 5}}, "$.service.api.endpoints[0].headers.x-n"),
        ({"defaults": ["model"]}, "$.service.api.endpoints[0].defaults"),
        ({"input_schema": {"type": 5}}, "$.service.api.endpoints[0].input_schema: not a valid"),
        ({"auth": {"file": ""}}, "$.service.api.endpoints[0].auth.file"),
    ],
)
def test_a_mistake_in_an_endpoint_is_reported_at_its_path(
    endpoint: dict[str, Any], reported: str
) -> None:
    document = contract({"capability": "first", "path": "/x", **endpoint})

    errors = contract_errors(document)

    assert any(error.startswith(reported) for error in errors), errors


def test_the_model_refuses_what_the_schema_refuses_for_credentials() -> None:
    """Built in code, past the schema: the model says no to the same things."""
    from pydantic import ValidationError

    from caio_integration.contracts.model import Api, HttpAuth

    with pytest.raises(ValidationError, match="looks like a credential"):
        Api(headers={"X-Auth-Token": "t"})
    with pytest.raises(ValidationError, match="exactly one of env or file"):
        HttpAuth(env="A", file="b")
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        HttpAuth.model_validate({"env": "A", "x-secret": "s"})


def test_an_endpoint_round_trips_every_new_key() -> None:
    endpoint = {
        "capability": "first",
        "path": "/first",
        "method": "POST",
        "headers": {"x-model-version": "2"},
        "auth": {"header": "x-api-key", "env": "FIRST_KEY"},
        "defaults": {"model": "m", "max_tokens": 5},
        "input_schema": {"type": "object"},
        "stream": {"format": "ndjson", "flag": "stream", "text_path": "message.content"},
    }
    document = contract(endpoint, SECOND)

    parsed = parse_contract(copy.deepcopy(document))

    assert parse_contract(parsed.to_document()) == parsed
    api = parsed.to_document()["service"]["api"]
    assert api["endpoints"][0] == {**endpoint, "auth": {**endpoint["auth"], "header": "x-api-key"}}
