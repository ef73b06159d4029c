"""Services written on ``AIUCPService`` behind a real CAIO router and nats-server.

The example service (sdk/examples/echo_service.py, about 30 lines) registers
itself with a publisher key and answers routed requests; a service that
breaks its output schema is caught by its own host, and the router fails
over to the next one.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from nats.aio.client import Client as NATS

from caio_integration import AIUCPService, parse_contract
from caio_integration.errors import Forbidden, Unauthenticated
from caio_integration.subjects import Subjects
from caio_integration.testing import ask_service


async def route(
    nc: NATS, prefix: str, capability: str, context: dict[str, Any], key: str
) -> dict[str, Any]:
    """A routed request as any client sends it: JSON and an Authorization header."""
    msg = await nc.request(
        Subjects(prefix).route(capability),
        json.dumps({"context": context}).encode(),
        timeout=10,
        headers={"Authorization": f"Bearer {key}"},
    )
    reply = json.loads(msg.data)
    assert isinstance(reply, dict)
    return reply


async def test_the_example_service_registers_itself_and_answers_routed_requests(
    caio_nc: NATS,
    caio_prefix: str,
    caio_host: Any,
    router: Any,
    make_key: Any,
    echo_example: Any,
) -> None:
    example = echo_example
    publisher = await make_key("echo-publisher", "publisher")
    caller = await make_key("app", "caller")

    host = await caio_host(
        example.EchoService(), example.CONTRACT, register=True, api_key=publisher
    )
    assert await router.liveness.wait_available("echo", timeout_s=10)
    reply = await route(caio_nc, caio_prefix, "echo", {"text": "hello"}, caller)
    refused = await route(caio_nc, caio_prefix, "echo", {"text": 5}, caller)

    assert host.registration is not None
    assert host.registration.service_id == "echo"
    assert reply["status"] == "ok"
    assert reply["service_id"] == "echo"
    assert reply["result"] == {"echo": "hello"}
    assert refused["error"]["code"] == "invalid_request"


def answering(service_id: str, accuracy: float) -> dict[str, Any]:
    return {
        "service": {
            "id": service_id,
            "name": f"Answers ({service_id})",
            "version": "1.0.0",
            "capabilities": [
                {
                    "type": "answer",
                    "output_schema": {
                        "type": "object",
                        "required": ["answer"],
                        "properties": {"answer": {"type": "integer"}},
                    },
                }
            ],
            "guarantees": {"accuracy": {"property": "accuracy", "bound": {"min": accuracy}}},
        }
    }


class Answers(AIUCPService):
    def __init__(self, contract: dict[str, Any], answer: object) -> None:
        self.contract = parse_contract(contract)
        self.answer = answer

    async def execute(
        self, request: dict[str, Any], context: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return {"answer": self.answer}


async def test_a_service_breaking_its_output_schema_is_caught_by_its_host_and_the_router_fails_over(
    caio_nc: NATS, caio_prefix: str, caio_host: Any, router: Any, make_key: Any
) -> None:
    publisher = await make_key("publisher", "publisher")
    caller = await make_key("app", "caller")
    liar_id, honest_id = f"liar-{caio_prefix}", f"honest-{caio_prefix}"
    # The liar promises more accuracy, so the router tries it first.
    for service in (
        Answers(answering(liar_id, 0.99), "forty-two"),
        Answers(answering(honest_id, 0.8), 42),
    ):
        await caio_host(service, register=True, api_key=publisher)
        assert await router.liveness.wait_available(service.contract.id, timeout_s=10)

    reply = await route(caio_nc, caio_prefix, "answer", {}, caller)

    assert reply["status"] == "ok"
    assert reply["service_id"] == honest_id
    assert reply["result"] == {"answer": 42}
    first = reply["attempts"][0]
    assert first["service_id"] == liar_id
    assert first["error"]["code"] == "service_error"
    # The liar's own host said so (the router's own check would say "invalid_result").
    assert first["error"]["details"]["reason"] == "guarantee_violated"


@pytest.mark.parametrize(("role", "refusal"), [("caller", Forbidden), (None, Unauthenticated)])
async def test_a_refused_registration_is_kept_and_the_service_still_serves(
    caio_nc: NATS,
    caio_prefix: str,
    caio_host: Any,
    router: Any,
    make_key: Any,
    role: str | None,
    refusal: type[Exception],
) -> None:
    key = await make_key("not-a-publisher", role) if role else None
    service_id = f"unregistered-{caio_prefix}"

    host = await caio_host(Answers(answering(service_id, 0.9), 1), register=True, api_key=key)
    answer = await ask_service(caio_nc, service_id, "answer", prefix=caio_prefix)

    assert isinstance(host.registration_error, refusal)
    assert host.registration is None
    assert answer.result == {"answer": 1}
