"""Every failure on the route path is answered and audited; a broken success is a failure.

Failures are injected into a real router on a real nats-server: a JetStream
stream that refuses the router's concurrency lease, a forwarder that raises.
Services answer with bare nats-py, as a worker in any language would, with
replies that say ``ok`` but carry no usable result.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js.api import StreamConfig

from caio_broker.forwarding import Forwarder
from caio_broker.router import Router
from caio_integration.subjects import Subjects
from tests.integration.conftest import FakeService, audit_records, contract, request

Reply = Callable[[dict[str, Any]], dict[str, Any]]


@pytest.fixture
async def answering(
    nc: NATS, subjects: Subjects, router: Router
) -> AsyncIterator[Callable[..., Any]]:
    """Register a service whose worker answers every request with ``reply(body)``."""
    subscriptions = []

    async def start(service_id: str, reply: Reply, **contract_args: Any) -> None:
        document = contract(service_id, **contract_args)
        registered = await request(nc, subjects.registry("register"), {"contract": document})
        assert registered["status"] == "registered", registered

        async def serve(msg: Msg) -> None:
            await msg.respond(orjson.dumps(reply(orjson.loads(msg.data))))

        subscriptions.append(
            await nc.subscribe(
                subjects.service(service_id, "code_review"), queue=service_id, cb=serve
            )
        )
        await FakeService(nc, subjects, service_id, ["code_review"]).beat()
        assert await router.liveness.wait_available(service_id, timeout_s=5)

    yield start
    for sub in subscriptions:
        await sub.unsubscribe()


def good(body: dict[str, Any]) -> dict[str, Any]:
    return {"status": "ok", "result": {"answer": "fine"}}


@pytest.mark.parametrize(
    ("bad_reply", "said"),
    [
        ({"status": "ok"}, "no result"),
        ({"status": "ok", "result": "fine"}, "a str as its result"),
        ({"status": "ok", "result": [1, 2]}, "a list as its result"),
    ],
    ids=["no-result", "string-result", "list-result"],
)
async def test_a_success_without_an_object_result_fails_over_to_the_next_service(
    nc: NATS, subjects: Subjects, answering: Any, bad_reply: dict[str, Any], said: str
) -> None:
    await answering("a-broken", lambda body: bad_reply, accuracy=0.99)
    await answering("b-good", good, accuracy=0.5)

    reply = await request(nc, subjects.route("code_review"), {"context": {}})

    assert reply["status"] == "ok"
    assert reply["service_id"] == "b-good"
    first = reply["attempts"][0]
    assert (first["service_id"], first["status"]) == ("a-broken", "error")
    assert first["error"]["code"] == "service_error"
    assert said in first["error"]["message"]


async def test_a_broken_success_from_the_only_service_reaches_the_caller_as_an_error(
    nc: NATS, subjects: Subjects, answering: Any
) -> None:
    await answering("only", lambda body: {"status": "ok"})

    reply = await request(nc, subjects.route("code_review"), {"context": {}})
    last = (await audit_records(nc, subjects))[-1]

    assert reply["status"] == "error"
    assert reply["error"]["code"] == "service_error"
    assert (last["outcome"], last["error"]["code"]) == ("error", "service_error")


def with_output_schema(service_id: str, schema: Any, **contract_args: Any) -> dict[str, Any]:
    document = contract(service_id, **contract_args)
    document["service"]["capabilities"][0]["output_schema"] = schema
    return document


ANSWER_SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string"}},
    "required": ["answer"],
}


async def test_a_result_that_breaks_the_contracts_output_schema_is_a_service_error(
    nc: NATS, subjects: Subjects, router: Router, answering: Any
) -> None:
    await answering("b-good", good, accuracy=0.5)
    registered = await request(
        nc,
        subjects.registry("register"),
        {"contract": with_output_schema("a-typed", ANSWER_SCHEMA, accuracy=0.99)},
    )
    assert registered["status"] == "registered"
    typed = await FakeService(nc, subjects, "a-typed", ["code_review"]).start()
    await typed.beat()
    assert await router.liveness.wait_available("a-typed", timeout_s=5)

    reply = await request(nc, subjects.route("code_review"), {"context": {}})

    assert reply["service_id"] == "b-good"
    first = reply["attempts"][0]
    assert first["service_id"] == "a-typed"
    assert first["error"]["code"] == "service_error"
    assert "result: 'answer' is a required property" in first["error"]["message"]
    assert first["error"]["details"]["reason"] == "invalid_result"


async def test_a_result_that_keeps_the_output_schema_is_passed_on(
    nc: NATS, subjects: Subjects, answering: Any
) -> None:
    await answering("typed", good)
    document = with_output_schema("typed", ANSWER_SCHEMA)
    await request(nc, subjects.registry("register"), {"contract": document, "replace": True})

    reply = await request(nc, subjects.route("code_review"), {"context": {}})

    assert reply["status"] == "ok"
    assert reply["result"] == {"answer": "fine"}


@pytest.mark.parametrize(
    ("schema", "said"),
    [
        ("schemas/answer.json", "is a file path"),
        ({"type": "no-such-type"}, "not a valid JSON Schema"),
    ],
    ids=["path", "invalid-schema"],
)
async def test_a_contract_with_an_output_schema_the_router_cannot_use_is_refused(
    nc: NATS, subjects: Subjects, router: Router, schema: Any, said: str
) -> None:
    reply = await request(
        nc, subjects.registry("register"), {"contract": with_output_schema("svc", schema)}
    )

    assert reply["error"]["code"] == "invalid_contract"
    assert "$.service.capabilities[0].output_schema" in reply["error"]["message"]
    assert said in reply["error"]["message"]


async def test_a_failing_jetstream_publish_is_answered_internal_and_audited(
    nc: NATS, subjects: Subjects, router: Router, answering: Any
) -> None:
    # The lease stream exists but takes other subjects: the router's lease publish
    # finds no stream, a JetStream failure that is not a CAIO error.
    js = nc.jetstream()
    await js.add_stream(
        StreamConfig(
            name=subjects.jetstream_name("CAIO_CONC_3"), subjects=[f"{subjects.prefix}.elsewhere"]
        )
    )
    await answering("limited", good, max_concurrent=3)

    reply = await request(nc, subjects.route("code_review"), {"context": {}})
    healthy = await request(nc, subjects.route("code_review"), {"context": {}, "dry_run": True})
    last = (await audit_records(nc, subjects))[-2]

    assert reply["status"] == "error"
    assert reply["error"]["code"] == "internal"
    assert reply["request_id"]
    assert last["request_id"] == reply["request_id"]
    assert (last["kind"], last["outcome"]) == ("route", "error")
    assert last["error"]["code"] == "internal"
    assert last["decision"]["candidates"][0]["service_id"] == "limited"
    assert healthy["status"] == "ok"


async def test_a_bug_in_the_route_path_is_answered_internal_and_audited(
    nc: NATS, subjects: Subjects, router: Router, answering: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    await answering("svc", good)

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(Forwarder, "forward", broken)

    reply = await request(nc, subjects.route("code_review"), {"context": {}})
    last = (await audit_records(nc, subjects))[-1]

    assert reply["error"]["code"] == "internal"
    assert "RuntimeError" in reply["error"]["message"]
    assert "boom" not in reply["error"]["message"]
    assert (last["outcome"], last["error"]["code"]) == ("error", "internal")
