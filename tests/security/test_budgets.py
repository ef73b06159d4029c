"""Prices and per-key budgets, on real routers with keys on.

The service answers with ``usage: {"tokens": 3}`` and its contract prices a
token at 0.5, so every answered route costs 1.5. A key's budget is counted
in JetStream KV by whichever router answers; two routers count one total.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import pytest
from nats.aio.client import Client as NATS

from caio_broker.auth.keys import CallerPolicy
from caio_broker.router import Router, RouterConfig
from caio_integration.subjects import Subjects
from tests.cli.conftest import caio
from tests.integration.conftest import FakeService, audit_records, contract

PRICE = 1.5  # 3 tokens at 0.5

StartRouter = Callable[[], Awaitable[Router]]


@pytest.fixture
async def start_router(nats_url: str, prefix: str) -> AsyncIterator[StartRouter]:
    started: list[Router] = []

    async def start() -> Router:
        router = Router(RouterConfig(nats_url=nats_url, prefix=prefix))
        await router.start()
        started.append(router)
        return router

    yield start
    for router in started:
        await router.stop()


async def key(router: Router, name: str, role: str = "caller", **policy: Any) -> str:
    assert router.keys is not None
    secret, _ = await router.keys.create(name, role, policy=CallerPolicy(**policy))  # type: ignore[arg-type]
    return secret


async def ask(nc: NATS, subject: str, secret: str, body: dict[str, Any]) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {secret}"}
    reply = orjson.loads((await nc.request(subject, orjson.dumps(body), 10, headers=headers)).data)
    assert isinstance(reply, dict)
    return reply


async def priced_service(nc: NATS, subjects: Subjects, routers: list[Router], admin: str) -> None:
    document = contract("priced", token_cost=0.5)
    registered = await ask(nc, subjects.registry("register"), admin, {"contract": document})
    assert registered["status"] == "registered", registered
    service = await FakeService(nc, subjects, "priced", ["code_review"]).start()
    await service.beat()
    for router in routers:
        assert await router.liveness.wait_available("priced", timeout_s=5)
        await asyncio.wait_for(_until(lambda r=router: r.catalog.get("priced") is not None), 5)


async def test_an_answer_carries_its_price_and_so_does_its_audit_record(
    start_router: StartRouter, nc: NATS, subjects: Subjects
) -> None:
    router = await start_router()
    admin, caller = await key(router, "root", "admin"), await key(router, "app")
    await priced_service(nc, subjects, [router], admin)

    reply = await ask(nc, subjects.route("code_review"), caller, {"context": {}})

    assert reply["status"] == "ok", reply
    assert reply["price"] == {"amount": PRICE, "currency": "USD"}
    [record] = [
        r for r in await audit_records(nc, subjects) if r.get("request_id") == reply["request_id"]
    ]
    assert record["price"] == {"amount": PRICE, "currency": "USD"}


async def test_a_key_over_its_daily_budget_is_refused_before_anything_is_forwarded(
    start_router: StartRouter, nc: NATS, subjects: Subjects
) -> None:
    router = await start_router()
    admin = await key(router, "root", "admin")
    budgeted = await key(router, "thrifty", budget_per_day=4.0)
    await priced_service(nc, subjects, [router], admin)
    subject = subjects.route("code_review")

    answered = [await ask(nc, subject, budgeted, {"context": {}}) for _ in range(3)]
    refused = await ask(nc, subject, budgeted, {"context": {}})

    assert [r["status"] for r in answered] == ["ok", "ok", "ok"]  # 0, 1.5, 3.0 spent before each
    assert refused["error"]["code"] == "budget_exceeded"
    assert refused["error"]["details"]["spent"] == 3 * PRICE
    assert refused["error"]["details"]["budget"] == 4.0
    assert refused["error"]["details"]["period"] == "day"
    assert "attempts" not in refused  # refused before forwarding


async def test_two_routers_count_one_budget_exactly(
    start_router: StartRouter, nc: NATS, subjects: Subjects, nats_url: str, prefix: str
) -> None:
    first, second = await start_router(), await start_router()
    admin = await key(first, "root", "admin")
    budgeted = await key(first, "shared", budget_per_day=1_000.0, budget_per_month=10_000.0)
    assert second.keys is not None
    await asyncio.wait_for(_until(lambda: second.keys.verify(budgeted) is not None), 5)
    await priced_service(nc, subjects, [first, second], admin)
    subject = subjects.route("code_review")

    replies = await asyncio.gather(
        *(ask(nc, subject, budgeted, {"context": {}}) for _ in range(60))
    )

    assert all(r["status"] == "ok" for r in replies), [r for r in replies if r["status"] != "ok"]
    records = [r for r in await audit_records(nc, subjects) if r.get("caller") == "shared"]
    assert len({r["chain"]["id"] for r in records}) == 2  # both routers answered some
    book = first.parts.routes._spend
    assert book is not None
    key_id = budgeted.split("_")[1]
    day, month = await book.spent_now(key_id)
    assert day == month == 60 * PRICE  # no add lost to the other router's
    ran = await caio("spend", "--json", "--nats-url", nats_url, "--prefix", prefix)
    assert ran.code == 0, ran.text
    assert {
        "key": "shared",
        "currency": "USD",
        "amount": 60 * PRICE,
        "requests": 60,
    } in orjson.loads(ran.out)


async def _until(condition: Callable[[], bool]) -> None:
    # The key store's and catalog's KV watches have no change event to await.
    while not condition():  # noqa: ASYNC110
        await asyncio.sleep(0.01)
