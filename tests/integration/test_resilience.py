"""Contract limits across routers, circuit breaking, retries and observed guarantees."""

from __future__ import annotations

import asyncio
from typing import Any

from nats.aio.client import Client as NATS

from caio_broker.breaker import BreakerSettings
from caio_broker.observed import ObservedSettings
from caio_broker.router import Router
from caio_integration.subjects import Subjects
from tests.integration.conftest import FakeService, StartRouter, audit_records, contract, request


async def serve(
    nc: NATS, subjects: Subjects, routers: list[Router], service_id: str, **contract_args: Any
) -> FakeService:
    """Register a contract, start an instance, and wait until every router sees it live."""
    reply = await request(
        nc, subjects.registry("register"), {"contract": contract(service_id, **contract_args)}
    )
    assert reply["status"] == "registered", reply
    service = await FakeService(nc, subjects, service_id, ["code_review"]).start()
    await service.beat()
    for router in routers:
        assert await router.catalog.wait_for_revision(reply["revision"], 5)
        assert await router.liveness.wait_available(service_id, timeout_s=5)
    return service


def codes(replies: list[dict[str, Any]]) -> list[str]:
    return [r["error"]["code"] if r["status"] == "error" else "ok" for r in replies]


async def test_a_contracts_rate_limit_holds_across_two_routers(
    nc: NATS, subjects: Subjects, start_router: StartRouter
) -> None:
    both = [await start_router(), await start_router()]
    service = await serve(nc, subjects, both, "metered", per_minute=30)

    replies = await asyncio.gather(
        *(request(nc, subjects.route("code_review"), {"context": {}}) for _ in range(80))
    )

    served = len(service.received)
    assert 27 <= served <= 33  # within 10% of 30 per minute (exact: one JetStream window)
    assert codes(replies).count("ok") == served
    limited = [r for r in replies if r["status"] == "error"]
    assert {r["error"]["code"] for r in limited} == {"rate_limited"}
    assert all(0 < r["error"]["details"]["retry_after_s"] <= 60 for r in limited)


async def test_max_concurrent_requests_holds_across_two_routers(
    nc: NATS, subjects: Subjects, start_router: StartRouter
) -> None:
    both = [await start_router(), await start_router()]
    service = await serve(nc, subjects, both, "narrow", max_concurrent=5)
    service.hold = asyncio.Event()

    calls = [
        asyncio.create_task(request(nc, subjects.route("code_review"), {"context": {}}))
        for _ in range(40)
    ]
    # The 35 over the limit come back at once; the 5 admitted wait on the hold.
    for rejected, finished in enumerate(asyncio.as_completed(calls), start=1):
        reply = await finished
        assert reply["error"]["code"] == "rate_limited"
        if rejected == 35:
            break
    peak_while_held = service.peak_in_flight
    service.hold.set()
    replies = await asyncio.gather(*calls)

    assert peak_while_held == 5
    assert service.peak_in_flight == 5
    assert codes(replies).count("ok") == 5


async def test_a_caller_one_at_a_time_never_meets_its_own_finished_calls_lease(
    nc: NATS, subjects: Subjects, start_router: StartRouter
) -> None:
    router = await start_router()
    await serve(nc, subjects, [router], "single", max_concurrent=1)

    replies = [await request(nc, subjects.route("code_review"), {"context": {}}) for _ in range(30)]

    assert codes(replies) == ["ok"] * 30


async def test_a_saturated_service_falls_back_to_the_next_candidate(
    nc: NATS, subjects: Subjects, start_router: StartRouter
) -> None:
    router = await start_router()
    best = await serve(nc, subjects, [router], "best", accuracy=0.99, max_concurrent=1)
    await serve(nc, subjects, [router], "backup", accuracy=0.5)
    best.hold = asyncio.Event()

    first = asyncio.create_task(request(nc, subjects.route("code_review"), {"context": {}}))
    await best.request_seen.wait()  # best is now busy with its one allowed request
    second = await request(nc, subjects.route("code_review"), {"context": {}})
    best.hold.set()

    assert (await first)["service_id"] == "best"
    assert second["service_id"] == "backup"
    assert [(a["service_id"], a["status"]) for a in second["attempts"]] == [
        ("best", "rate_limited"),
        ("backup", "ok"),
    ]


async def test_a_failing_service_opens_its_circuit_then_a_probe_closes_it(
    nc: NATS, subjects: Subjects, start_router: StartRouter
) -> None:
    router = await start_router(breaker=BreakerSettings(threshold=2, cooldown_s=0.5))
    flaky = await serve(nc, subjects, [router], "flaky", accuracy=0.99)
    await serve(nc, subjects, [router], "steady", accuracy=0.5)
    flaky.mode, flaky.retryable = "error", False

    for _ in range(2):
        await request(nc, subjects.route("code_review"), {"context": {}})
    calls_when_open = len(flaky.received)
    while_open = await request(nc, subjects.route("code_review"), {"context": {}, "dry_run": True})
    routed_while_open = await request(nc, subjects.route("code_review"), {"context": {}})
    flaky.mode = "ok"
    await asyncio.sleep(0.6)  # the cooldown itself: a time, not an event
    probe = await request(nc, subjects.route("code_review"), {"context": {}})

    assert calls_when_open == 2
    assert while_open["excluded"]["flaky"] == "unavailable: circuit open after repeated failures"
    assert routed_while_open["service_id"] == "steady"
    assert len(flaky.received) == 3  # only the probe reached it after the circuit opened
    assert probe["service_id"] == "flaky"
    assert router.health.breakers.state("flaky") == "closed"


async def test_a_service_slower_than_its_p95_is_demoted_audited_and_restored(
    nc: NATS, subjects: Subjects, start_router: StartRouter
) -> None:
    router = await start_router(observed=ObservedSettings(samples=20, min_samples=10))
    slowing = await serve(nc, subjects, [router], "slowing", accuracy=0.99, p95_ms=40)
    await serve(nc, subjects, [router], "steady", accuracy=0.5, p95_ms=50)
    pinned = {"context": {}, "constraints": {"service_ids": ["slowing"]}}

    for _ in range(10):
        await request(nc, subjects.route("code_review"), pinned)
    before = await request(nc, subjects.route("code_review"), {"context": {}, "dry_run": True})
    slowing.delay_s = 0.1
    for _ in range(3):
        await request(nc, subjects.route("code_review"), pinned)
    demoted = await request(nc, subjects.route("code_review"), {"context": {}, "dry_run": True})
    strict = await request(
        nc,
        subjects.route("code_review"),
        {"context": {}, "dry_run": True, "guarantees": {"max_p95_latency_ms": 60}},
    )
    stats = await request(nc, subjects.registry("stats"), {})
    slowing.delay_s = 0.0
    for _ in range(20):
        await request(nc, subjects.route("code_review"), pinned)
    restored = await request(nc, subjects.route("code_review"), {"context": {}, "dry_run": True})
    reports = [r for r in await audit_records(nc, subjects) if r["kind"] == "guarantee_violation"]

    assert before["service_id"] == "slowing"
    assert [c["service_id"] for c in demoted["candidates"]] == ["steady", "slowing"]
    assert "observed p95" in strict["excluded"]["slowing"]
    by_id = {s["service_id"]: s for s in stats["services"]}
    assert by_id["slowing"]["guarantee"] == "violated"
    assert by_id["slowing"]["observed"]["p95_ms"] > 40
    assert by_id["slowing"]["contract"]["p95_latency_ms"] == 40
    assert restored["service_id"] == "slowing"
    assert [(r["service_id"], r["decision"]["state"]) for r in reports] == [
        ("slowing", "violated"),
        ("slowing", "restored"),
    ]
    assert reports[0]["outcome"] == "error"
