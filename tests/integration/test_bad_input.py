"""Bad input gets a clear error with a stable code, and the router keeps serving."""

from __future__ import annotations

import orjson
import pytest
from nats.aio.client import Client as NATS

from caio_broker.router import Router
from caio_integration.subjects import Subjects
from tests.integration.conftest import ServiceFactory, audit_records, request

LARGE = b'{"context": {"blob": "' + b"x" * (300 * 1024) + b'"}}'


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"not json", "invalid_request"),
        (b"[1, 2, 3]", "invalid_request"),
        (b'"a string"', "invalid_request"),
        (b"", "invalid_request"),
        (b'{"timeout_ms": "soon"}', "invalid_request"),
        (b'{"timeout_ms": -1}', "invalid_request"),
        (b'{"context": "not an object"}', "invalid_request"),
        (b'{"requirements": ["bad token"]}', "invalid_request"),
        (b'{"constraints": {"service_ids": ["*"]}}', "invalid_request"),
        (b'{"dry_run": "yes"}', "invalid_request"),
        (b"[" * 5000 + b"]" * 5000, "invalid_request"),
        (LARGE, "payload_too_large"),
    ],
    ids=[
        "not-json",
        "array",
        "string",
        "empty",
        "string-timeout",
        "negative-timeout",
        "context-not-object",
        "unsafe-requirement",
        "wildcard-service-id",
        "string-bool",
        "deep-nesting",
        "too-large",
    ],
)
async def test_a_bad_route_request_gets_its_error_code_and_the_router_keeps_serving(
    nc: NATS, subjects: Subjects, live_service: ServiceFactory, payload: bytes, code: str
) -> None:
    await live_service("svc")

    reply = await request(nc, subjects.route("code_review"), payload)
    healthy = await request(nc, subjects.route("code_review"), {"context": {}})

    assert reply["status"] == "error"
    assert reply["error"]["code"] == code
    assert reply["error"]["message"]
    assert healthy["status"] == "ok"


@pytest.mark.parametrize("capability", ["Code_Review", "-leading-dash", "x" * 65])
async def test_an_unsafe_capability_in_the_subject_is_invalid(
    nc: NATS, subjects: Subjects, router: Router, capability: str
) -> None:
    reply = await request(nc, f"{subjects.prefix}.route.{capability}", {"context": {}})

    assert reply["error"]["code"] == "invalid_request"


async def test_invalid_input_is_audited_with_its_request_id(
    nc: NATS, subjects: Subjects, router: Router
) -> None:
    await request(nc, subjects.route("code_review"), {"request_id": "bad-7", "dry_run": 1})

    records = await audit_records(nc, subjects)

    assert [(r["kind"], r["outcome"], r["request_id"]) for r in records] == [
        ("invalid", "invalid", "bad-7")
    ]
    assert records[0]["error"]["code"] == "invalid_request"


@pytest.mark.parametrize(
    ("operation", "payload", "code"),
    [
        ("register", b"not json", "invalid_request"),
        ("register", b"{}", "invalid_request"),
        ("register", b'{"contract": {}, "contract_yaml": ""}', "invalid_request"),
        ("register", b'{"contract_yaml": 5}', "invalid_request"),
        (
            "register",
            b'{"contract": {"service_id": "a", "name": "n", "version": "1", '
            b'"capabilities": ["x"]}, "replace": "yes"}',
            "invalid_request",
        ),
        ("get", b'{"service_id": "a.b"}', "invalid_request"),
        ("get", b'{"service_id": 7}', "invalid_request"),
        ("deregister", b"{}", "invalid_request"),
        ("list", b'{"capability": ">"}', "invalid_request"),
        ("discover", b'{"capabilities": "code_review"}', "invalid_request"),
        ("explode", b"{}", "invalid_request"),
        ("register", LARGE, "payload_too_large"),
    ],
)
async def test_a_bad_registry_request_gets_its_error_code_and_changes_nothing(
    nc: NATS, subjects: Subjects, router: Router, operation: str, payload: bytes, code: str
) -> None:
    reply = await request(nc, subjects.registry(operation), payload)
    listed = await request(nc, subjects.registry("list"), {})

    assert reply["status"] == "error"
    assert reply["error"]["code"] == code
    assert listed["count"] == 0


async def test_a_route_published_without_a_reply_subject_does_not_stop_the_router(
    nc: NATS, subjects: Subjects, live_service: ServiceFactory
) -> None:
    service = await live_service("svc")

    await nc.publish(subjects.route("code_review"), orjson.dumps({"context": {"n": 1}}))
    reply = await request(nc, subjects.route("code_review"), {"context": {"n": 2}})

    assert reply["status"] == "ok"
    assert {r["context"]["n"] for r in service.received} <= {1, 2}
