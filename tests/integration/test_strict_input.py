"""Misspelled fields in requests are refused with their names, over a real nats-server.

A typo in a privacy constraint must never route as if the constraint were
absent: the request is refused ``invalid_request`` naming the field and the
one probably meant, audited as invalid, and nothing is called or changed.
"""

from __future__ import annotations

from typing import Any

import pytest
from nats.aio.client import Client as NATS

from caio_broker.router import Router
from caio_integration.subjects import Subjects
from tests.integration.conftest import ServiceFactory, audit_records, contract, request

TYPOS = [
    ({"data_localty": ["on_prem"]}, "constraints.data_localty", "data_locality"),
    ({"hipaa": True}, "constraints.hipaa", "hipaa_compliant"),
    ({"max_p95_latency": 100}, "constraints.max_p95_latency", "guarantees.max_p95_latency_ms"),
]


@pytest.mark.parametrize(("constraints", "field", "meant"), TYPOS)
async def test_a_misspelled_constraint_is_refused_and_audited_not_ignored(
    nc: NATS,
    subjects: Subjects,
    live_service: ServiceFactory,
    constraints: dict[str, Any],
    field: str,
    meant: str,
) -> None:
    service = await live_service("cloud-svc", locality="cloud")

    reply = await request(
        nc, subjects.route("code_review"), {"context": {}, "constraints": constraints}
    )

    assert reply["status"] == "error"
    assert reply["error"]["code"] == "invalid_request"
    assert reply["error"]["details"]["unknown_fields"] == {field: meant}
    assert field in reply["error"]["message"]
    assert service.received == []
    last = (await audit_records(nc, subjects))[-1]
    assert (last["kind"], last["outcome"]) == ("invalid", "invalid")


async def test_the_correct_spelling_is_honoured(
    nc: NATS, subjects: Subjects, live_service: ServiceFactory
) -> None:
    await live_service("cloud-svc", locality="cloud")

    reply = await request(
        nc,
        subjects.route("code_review"),
        {"context": {}, "constraints": {"data_locality": ["on_prem"]}},
    )

    assert reply["error"]["code"] == "no_matching_service"


async def test_a_misspelled_top_level_field_is_refused(
    nc: NATS, subjects: Subjects, live_service: ServiceFactory
) -> None:
    await live_service("svc")

    reply = await request(
        nc, subjects.route("code_review"), {"context": {}, "constrains": {"hipaa_compliant": True}}
    )

    assert reply["error"]["code"] == "invalid_request"
    assert reply["error"]["details"]["unknown_fields"] == {"constrains": "constraints"}


async def test_a_discover_query_with_a_typo_is_refused(
    nc: NATS, subjects: Subjects, live_service: ServiceFactory
) -> None:
    await live_service("svc")

    reply = await request(
        nc,
        subjects.registry("discover"),
        {"capabilities": ["code_review"], "constraints": {"data_localty": ["on_prem"]}},
    )

    assert reply["error"]["code"] == "invalid_request"
    assert reply["error"]["details"]["unknown_fields"] == {
        "constraints.data_localty": "data_locality"
    }


async def test_a_misspelled_replace_changes_nothing(
    nc: NATS, subjects: Subjects, router: Router
) -> None:
    first = await request(nc, subjects.registry("register"), {"contract": contract("svc")})

    changed = contract("svc", p95_ms=10)
    reply = await request(nc, subjects.registry("register"), {"contract": changed, "replcae": True})
    stored = await request(nc, subjects.registry("get"), {"service_id": "svc"})

    assert first["status"] == "registered"
    assert reply["error"]["code"] == "invalid_request"
    assert reply["error"]["details"]["unknown_fields"] == {"replcae": "replace"}
    assert stored["revision"] == first["revision"]


async def test_registry_requests_may_carry_a_request_id(
    nc: NATS, subjects: Subjects, router: Router
) -> None:
    reply = await request(nc, subjects.registry("list"), {"request_id": "abc-1"})

    assert reply["status"] == "ok"
