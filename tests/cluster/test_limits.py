"""Two routers on different nodes enforce one limit: within 10% of the configured figure.

Contract limits (``rate_limit.per_minute``, ``max_concurrent_requests``) and
a caller key's ``requests_per_minute`` are counted in JetStream (memory
streams, R3 here), not per router, so routers on n1 and n2 share one count.
Callers on all three nodes send far more than the limit at once; what got
through is counted where it arrived (the service instances, one per node).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from nats.aio.client import Client as NATS

from caio_broker.auth.keys import CallerPolicy
from caio_broker.router import AuthSettings, Router
from caio_integration.natscluster import NatsCluster
from caio_integration.subjects import Subjects
from tests.cluster.conftest import Connect, SpreadWorkers, StartRouter
from tests.security.test_app_attacks import key_revision


async def ask(nc: NATS, subjects: Subjects, key: str | None = None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}"} if key else None
    msg = await nc.request(
        subjects.route("code_review"), orjson.dumps({"context": {}}), timeout=15, headers=headers
    )
    reply = orjson.loads(msg.data)
    assert isinstance(reply, dict)
    return reply


def codes(replies: list[dict[str, Any]]) -> dict[str, int]:
    counted: dict[str, int] = {}
    for r in replies:
        code = "ok" if r["status"] == "ok" else r["error"]["code"]
        counted[code] = counted.get(code, 0) + 1
    return counted


async def callers_on_every_node(connect: Connect) -> list[NATS]:
    return [(await connect(node)).nc for node in (0, 1, 2)]


async def test_a_contracts_rate_limit_holds_across_routers_on_two_nodes(
    cluster: NatsCluster,
    subjects: Subjects,
    connect: Connect,
    start_router: StartRouter,
    spread_workers: SpreadWorkers,
) -> None:
    limit, sent = 60, 200
    routers = [await start_router(0), await start_router(1)]
    workers = await spread_workers("metered", [0, 1, 2], routers, per_minute=limit)
    callers = await callers_on_every_node(connect)

    replies = await asyncio.gather(*(ask(callers[i % 3], subjects) for i in range(sent)))

    served = workers.calls
    counted = codes(replies)
    print(
        f"\ncontract rate limit {limit}/min, {sent} sent over 2 routers: served {served} {counted}"
    )
    assert abs(served - limit) <= limit * 0.1
    assert counted.get("ok") == served
    assert set(counted) == {"ok", "rate_limited"}


async def concurrency_burst(
    subjects: Subjects,
    connect: Connect,
    start_router: StartRouter,
    spread_workers: SpreadWorkers,
    *,
    warm: bool,
) -> tuple[int, dict[str, int]]:
    """80 calls at once to a service allowed 10 at a time; (held at once, reply codes)."""
    limit, sent = 10, 80
    routers = [await start_router(0), await start_router(1)]
    workers = await spread_workers("narrow", [0, 1, 2], routers, max_concurrent=limit)
    callers = await callers_on_every_node(connect)
    if warm:  # one call first, retried until the lease stream has taken a lease
        deadline = time.monotonic() + 10
        while (await ask(callers[0], subjects))["status"] != "ok":
            assert time.monotonic() < deadline, "the lease stream never took a lease"
    before = workers.calls
    hold = asyncio.Event()
    workers.configure(hold=hold)

    calls = [asyncio.create_task(ask(callers[i % 3], subjects)) for i in range(sent)]
    # Admitted calls wait on the hold at their instance; the rest come back refused.
    # Together they are every call; no single event says so, hence the polling.
    deadline = time.monotonic() + 20
    while sum(c.done() for c in calls) + sum(w.in_flight for w in workers.instances) < sent:
        assert time.monotonic() < deadline, "calls neither refused nor held"
        await asyncio.sleep(0.05)
    held = sum(w.in_flight for w in workers.instances)
    hold.set()
    counted = codes(await asyncio.gather(*calls))
    assert workers.calls - before == counted.get("ok", 0)
    print(f"\nmax_concurrent {limit}, {sent} at once over 2 routers: {held} held at once {counted}")
    return held, counted


async def test_max_concurrent_requests_holds_across_routers_on_two_nodes(
    cluster: NatsCluster,
    subjects: Subjects,
    connect: Connect,
    start_router: StartRouter,
    spread_workers: SpreadWorkers,
) -> None:
    held, counted = await concurrency_burst(
        subjects, connect, start_router, spread_workers, warm=True
    )

    assert abs(held - 10) <= 1
    assert counted.get("ok") == held
    assert set(counted) == {"ok", "rate_limited"}


async def test_the_first_burst_at_a_new_concurrency_limit_is_not_answered_internal(
    cluster: NatsCluster,
    subjects: Subjects,
    connect: Connect,
    start_router: StartRouter,
    spread_workers: SpreadWorkers,
) -> None:
    _, counted = await concurrency_burst(
        subjects, connect, start_router, spread_workers, warm=False
    )

    assert set(counted) == {"ok", "rate_limited"}, counted


async def test_a_callers_rate_limit_holds_across_routers_on_two_nodes(
    cluster: NatsCluster,
    subjects: Subjects,
    connect: Connect,
    start_router: StartRouter,
    spread_workers: SpreadWorkers,
) -> None:
    limit, sent = 50, 150
    auth = AuthSettings(required=True)
    routers: list[Router] = [await start_router(0, auth=auth), await start_router(1, auth=auth)]
    assert routers[0].keys is not None
    admin, _ = await routers[0].keys.create("root", "admin")
    secret, _ = await routers[0].keys.create(
        "busy", "caller", policy=CallerPolicy(requests_per_minute=limit)
    )
    callers = await callers_on_every_node(connect)
    revision = await key_revision(callers[1], subjects, secret)
    for router in routers:
        assert router.keys is not None
        assert await router.keys.revisions.wait_for(revision, 10)
    workers = await spread_workers("svc", [0, 1, 2], routers, api_key=admin)

    replies = await asyncio.gather(*(ask(callers[i % 3], subjects, secret) for i in range(sent)))

    counted = codes(replies)
    print(f"\ncaller rate limit {limit}/min, {sent} sent over 2 routers: {counted}")
    assert abs(counted.get("ok", 0) - limit) <= limit * 0.1
    assert workers.calls == counted.get("ok")
    assert set(counted) == {"ok", "rate_limited"}
