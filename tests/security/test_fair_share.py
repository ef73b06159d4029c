"""One key flooding a slow service slows itself, not the other callers.

A real router with API keys on (its in-flight bound made small, so a
bounded flood is enough to fill it), a service that takes half a second per
call, one key sending thousands of requests at once and another sending a
few with a deadline. The flooding key may only hold its share of the
router's in-flight requests; what is over it is refused at once with
``rate_limited`` (and audited), so the other caller's requests never queue
behind the flood.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import nats
import orjson
import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError

from caio_broker.router import Router, RouterConfig
from caio_integration.subjects import Subjects
from tests.integration.conftest import FakeService, contract

FLOOD = 3_000  # requests at once, over ten times what the router holds in flight
POLITE = 24  # the other caller's requests, each with its own deadline
DEADLINE_S = 4.0
SERVICE_DELAY_S = 0.5


@pytest.fixture
async def small_router(nats_url: str, prefix: str) -> AsyncIterator[Router]:
    router = Router(RouterConfig(nats_url=nats_url, prefix=prefix, max_in_flight=256))
    await router.start()
    yield router
    await router.stop()


async def key_for(router: Router, name: str, role: str = "caller") -> str:
    assert router.keys is not None
    secret, _ = await router.keys.create(name, role)  # type: ignore[arg-type]
    return secret


async def slow_service(nc: NATS, subjects: Subjects, router: Router, admin: str) -> FakeService:
    body = orjson.dumps({"contract": contract("slow", ["code_review"])})
    headers = {"Authorization": f"Bearer {admin}"}
    reply = orjson.loads(
        (await nc.request(subjects.registry("register"), body, 10, headers=headers)).data
    )
    assert reply["status"] == "registered", reply
    service = await FakeService(nc, subjects, "slow", ["code_review"]).start()
    service.delay_s = SERVICE_DELAY_S
    await service.beat()
    assert await router.liveness.wait_available("slow", timeout_s=5)
    return service


class Flood:
    """``FLOOD`` requests published at once on one connection; replies counted by code."""

    def __init__(self, nc: NATS) -> None:
        self.nc = nc
        self.codes: Counter[str] = Counter()
        self.all_answered = asyncio.Event()

    async def _on_reply(self, msg: Msg) -> None:
        reply = orjson.loads(msg.data)
        self.codes[reply["error"]["code"] if reply["status"] == "error" else "ok"] += 1
        if sum(self.codes.values()) == FLOOD:
            self.all_answered.set()

    async def send(self, subject: str, key: str) -> None:
        inbox = self.nc.new_inbox()
        await self.nc.subscribe(f"{inbox}.*", cb=self._on_reply)
        headers = {"Authorization": f"Bearer {key}"}
        for n in range(FLOOD):
            await self.nc.publish(
                subject, b'{"context": {}}', reply=f"{inbox}.{n}", headers=headers
            )
        await self.nc.flush()


async def polite_call(nc: NATS, subject: str, key: str) -> str:
    headers = {"Authorization": f"Bearer {key}"}
    try:
        msg = await nc.request(subject, b'{"context": {}}', DEADLINE_S, headers=headers)
    except NatsTimeoutError:
        return "no answer within the deadline"
    reply = orjson.loads(msg.data)
    return "ok" if reply["status"] == "ok" else reply["error"]["code"]


async def test_a_key_flooding_a_slow_service_leaves_the_other_callers_served(
    small_router: Router, nats_url: str, nc: NATS, subjects: Subjects
) -> None:
    admin = await key_for(small_router, "root", "admin")
    flooder, polite = await key_for(small_router, "flooder"), await key_for(small_router, "polite")
    await slow_service(nc, subjects, small_router, admin)
    subject = subjects.route("code_review")
    flood_nc = await nats.connect(nats_url)
    try:
        flood = Flood(flood_nc)
        await flood.send(subject, flooder)
        outcomes = Counter(
            await asyncio.gather(*(polite_call(nc, subject, polite) for _ in range(POLITE)))
        )
        await asyncio.wait_for(flood.all_answered.wait(), 60)
    finally:
        await flood_nc.drain()

    assert outcomes["ok"] >= 0.9 * POLITE, outcomes
    assert flood.codes["rate_limited"] > 0, flood.codes  # the flood was held to its share
    assert flood.codes["ok"] > 0, flood.codes  # and still served within it
