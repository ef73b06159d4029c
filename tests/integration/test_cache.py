"""The response cache, on a real router: a contract that allows it has its answers reused."""

from __future__ import annotations

import asyncio
from typing import Any

from nats.aio.client import Client as NATS

from caio_broker.router import Router
from caio_integration.subjects import Subjects
from tests.integration.conftest import FakeService, audit_records, contract, request

QUESTION = {"context": {"code": "x = 1"}}


async def service_with(
    nc: NATS, subjects: Subjects, router: Router, service_id: str, **service: Any
) -> FakeService:
    document = contract(service_id)
    document["service"].update(service)
    reply = await request(nc, subjects.registry("register"), {"contract": document})
    assert reply["status"] == "registered", reply
    fake = await FakeService(nc, subjects, service_id, ["code_review"]).start()
    await fake.beat()
    assert await router.liveness.wait_available(service_id, timeout_s=5)
    return fake


async def stored_answers(nc: NATS, subjects: Subjects, count: int) -> None:
    """Until ``count`` answers are in the cache bucket: they are written in the background."""
    kv = await nc.jetstream().key_value(subjects.cache_bucket)
    watcher = await kv.watchall(ignore_deletes=True)
    seen = 0
    async for entry in watcher:
        if entry is not None:
            seen += 1
            if seen == count:
                break
    await watcher.stop()


async def test_an_identical_request_is_answered_from_the_cache_and_audited_as_such(
    nc: NATS, subjects: Subjects, router: Router
) -> None:
    service = await service_with(nc, subjects, router, "cached", cache={"ttl_s": 60})
    first = await request(nc, subjects.route("code_review"), QUESTION)
    await asyncio.wait_for(stored_answers(nc, subjects, 1), 5)

    second = await request(nc, subjects.route("code_review"), QUESTION)

    assert len(service.received) == 1
    assert second["status"] == "ok"
    assert second["result"] == first["result"]
    assert second["attempts"] == []
    assert second["cache"]["hit"] is True
    assert second["cache"]["original_request_id"] == first["request_id"]
    records = {r["request_id"]: r for r in await audit_records(nc, subjects)}
    assert records[second["request_id"]]["cache"] == second["cache"]
    assert "cache" not in records[first["request_id"]]


async def test_a_caller_can_bypass_it_and_another_question_is_not_a_hit(
    nc: NATS, subjects: Subjects, router: Router
) -> None:
    service = await service_with(nc, subjects, router, "cached", cache={"ttl_s": 60})
    await request(nc, subjects.route("code_review"), QUESTION)
    await asyncio.wait_for(stored_answers(nc, subjects, 1), 5)

    bypassed = await request(nc, subjects.route("code_review"), {**QUESTION, "cache": False})
    other = await request(nc, subjects.route("code_review"), {"context": {"code": "y = 2"}})

    assert len(service.received) == 3
    assert "cache" not in bypassed
    assert "cache" not in other


async def test_a_deterministic_contract_is_cached_without_a_policy(
    nc: NATS, subjects: Subjects, router: Router
) -> None:
    determinism = {"property": "deterministic_output", "bound": {"seed_required": False}}
    guarantees = {**contract("det")["service"]["guarantees"], "determinism": determinism}
    service = await service_with(nc, subjects, router, "det", guarantees=guarantees)
    await request(nc, subjects.route("code_review"), QUESTION)
    await asyncio.wait_for(stored_answers(nc, subjects, 1), 5)

    again = await request(nc, subjects.route("code_review"), QUESTION)

    assert len(service.received) == 1
    assert again["cache"]["hit"] is True


async def test_an_ordinary_contract_is_asked_every_time(
    nc: NATS, subjects: Subjects, router: Router
) -> None:
    service = await service_with(nc, subjects, router, "plain")

    for _ in range(3):
        reply = await request(nc, subjects.route("code_review"), QUESTION)
        assert "cache" not in reply

    assert len(service.received) == 3
