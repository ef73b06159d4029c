"""Integration fixtures: a real router per test and services scripted on bare nats-py.

``FakeService`` is a bridge worker reduced to what the protocol requires: it
answers ``<prefix>.svc.<id>.<capability>`` in a queue group and heartbeats.
Its ``mode`` scripts how it behaves (answer, error, hang), and it records
every service request it receives, so a test can assert what the router sent.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from caio_broker.router import AuthSettings, Router, RouterConfig
from caio_integration._natsconn import subscriptions_settled
from caio_integration.subjects import Subjects
from tests.secure.bus import as_admin, as_worker


def contract(
    service_id: str,
    capabilities: list[str] | tuple[str, ...] = ("code_review",),
    *,
    p95_ms: float | None = 1000,
    accuracy: float | None = 0.8,
    token_cost: float | None = 0.0001,
    locality: str | None = "cloud",
    hipaa: bool = False,
    context_tokens: int | None = 8000,
    per_minute: int | None = None,
    max_concurrent: int | None = None,
) -> dict[str, Any]:
    """A nested-dialect contract with the properties matching reads."""
    service: dict[str, Any] = {
        "id": service_id,
        "name": f"Test service {service_id}",
        "version": "1.0.0",
        "capabilities": [{"type": cap} for cap in capabilities],
        "privacy": {"hipaa_compliant": hipaa},
    }
    guarantees: dict[str, Any] = {}
    if p95_ms is not None:
        guarantees["latency"] = {"property": "p95_latency_ms", "bound": {"max": p95_ms}}
    if accuracy is not None:
        guarantees["accuracy"] = {"property": "accuracy", "bound": {"min": accuracy}}
    service["guarantees"] = guarantees
    if token_cost is not None:
        service["cost"] = {"model": "per_token", "token_cost": token_cost, "currency": "USD"}
    if locality is not None:
        service["privacy"]["data_locality"] = locality
    constraints: dict[str, Any] = {}
    if context_tokens is not None:
        constraints["context_length"] = {"max_tokens": context_tokens}
    if per_minute is not None:
        constraints["rate_limit"] = {"per_minute": per_minute}
    if max_concurrent is not None:
        constraints["max_concurrent_requests"] = max_concurrent
    if constraints:
        service["constraints"] = constraints
    return {"service": service}


async def request(nc: NATS, subject: str, body: Any, timeout: float = 10.0) -> dict[str, Any]:
    """Send a request as any client would; bytes are sent as they are."""
    payload = body if isinstance(body, bytes) else orjson.dumps(body)
    msg = await nc.request(subject, payload, timeout=timeout)
    reply = orjson.loads(msg.data)
    assert isinstance(reply, dict)
    return reply


class FakeService:
    """A scripted service instance: ``mode`` is "ok", "error" or "hang"."""

    def __init__(
        self, nc: NATS, subjects: Subjects, service_id: str, capabilities: list[str]
    ) -> None:
        self.nc = nc
        self.subjects = subjects
        self.service_id = service_id
        self.capabilities = capabilities
        self.instance_id = f"{service_id}-test"
        self.mode = "ok"
        self.error_code = "service_error"
        self.retryable = True
        self.delay_s = 0.0  # answer after this long
        self.hold: asyncio.Event | None = None  # answer only once this is set
        self.in_flight = 0
        self.peak_in_flight = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self.received: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []  # each request's NATS headers
        # Asked to stream, send these as chunks before the final reply; with
        # ``break_stream`` the final reply is an error (a stream cut short).
        self.chunks: list[dict[str, Any]] = []
        self.break_stream = False
        self.first_seq = 0  # the first chunk's number: anything but 0 is a gap
        self.request_seen = asyncio.Event()
        self._subs: list[Subscription] = []
        self._connected = False

    async def _connection(self) -> NATS:
        """``nc``, or under --bus=secure the service's own user ``worker-<id>`` (tests/secure)."""
        if not self._connected:
            self.nc = await as_worker(self.nc, self.service_id)
            self._connected = True
        return self.nc

    async def start(self) -> FakeService:
        await self._connection()
        for cap in self.capabilities:
            sub = await self.nc.subscribe(
                self.subjects.service(self.service_id, cap),
                queue=self.service_id,
                cb=self._on_request,
            )
            self._subs.append(sub)
        await subscriptions_settled(self.nc)
        return self

    async def beat(self, *, stopping: bool = False) -> None:
        beat: dict[str, Any] = {
            "service_id": self.service_id,
            "instance_id": self.instance_id,
            "ts": time.time(),
        }
        if stopping:
            beat["stopping"] = True
        await self._connection()
        await self.nc.publish(self.subjects.heartbeat(self.service_id), orjson.dumps(beat))
        await self.nc.flush()

    async def unsubscribe(self) -> None:
        """Stop answering, as a killed worker would (its last heartbeat is still fresh)."""
        for sub in self._subs:
            await sub.unsubscribe()
        self._subs.clear()
        await self.nc.flush()

    async def _on_request(self, msg: Msg) -> None:
        # nats-py runs one subscription's callbacks one at a time: serve each in
        # its own task so requests overlap as they would at a real service.
        task = asyncio.create_task(self._serve(msg))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, msg: Msg) -> None:
        body = orjson.loads(msg.data)
        self.received.append(body)
        self.headers.append(dict(msg.headers or {}))
        self.request_seen.set()
        if self.mode == "hang":
            return
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            if self.hold is not None:
                await self.hold.wait()
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
        finally:
            self.in_flight -= 1
        if self.mode == "error":
            reply = {
                "status": "error",
                "request_id": body.get("request_id"),
                "error": {
                    "code": self.error_code,
                    "message": f"{self.service_id} failed",
                    "retryable": self.retryable,
                },
            }
        else:
            reply = {
                "status": "ok",
                "result": {"served_by": self.service_id, "echo": body.get("context")},
                "usage": {"tokens": 3},
            }
        if body.get("stream"):
            for seq, data in enumerate(self.chunks, start=self.first_seq):
                chunk = {"status": "chunk", "request_id": body["request_id"], "seq": seq}
                await msg.respond(orjson.dumps({**chunk, "data": data}))
            if self.chunks and self.break_stream:
                error = {"code": "service_error", "message": "upstream went away"}
                reply = {"status": "error", "request_id": body["request_id"], "error": error}
        await msg.respond(orjson.dumps(reply))


@pytest.fixture
async def router(nats_url: str, prefix: str) -> AsyncIterator[Router]:
    # These tests pin down protocol behaviour; they run with caller auth off
    # (as `caio router --insecure-no-auth`). tests/security runs the default,
    # authenticated router.
    service = Router(
        RouterConfig(nats_url=nats_url, prefix=prefix, auth=AuthSettings(required=False))
    )
    await service.start()
    yield service
    await service.stop()


StartRouter = Callable[..., Awaitable[Router]]


@pytest.fixture
async def start_router(nats_url: str, prefix: str) -> AsyncIterator[StartRouter]:
    """Start routers for this test's prefix (caller auth off unless ``auth=True``; other
    ``RouterConfig`` fields as keywords); every one is stopped at teardown."""
    started: list[Router] = []

    async def start(*, auth: bool = False, **config: Any) -> Router:
        router = Router(
            RouterConfig(
                nats_url=nats_url, prefix=prefix, auth=AuthSettings(required=auth), **config
            )
        )
        await router.start()
        started.append(router)
        return router

    yield start
    for router in started:
        await router.stop()


ServiceFactory = Callable[..., Awaitable[FakeService]]


@pytest.fixture
async def live_service(nc: NATS, subjects: Subjects, router: Router) -> ServiceFactory:
    """Register a contract, start a fake instance for it, and wait until the router sees it."""

    async def start(
        service_id: str, capabilities: list[str] | None = None, **contract_args: Any
    ) -> FakeService:
        caps = capabilities or ["code_review"]
        reply = await request(
            nc,
            subjects.registry("register"),
            {"contract": contract(service_id, caps, **contract_args)},
        )
        assert reply["status"] == "registered", reply
        service = await FakeService(nc, subjects, service_id, caps).start()
        await service.beat()
        assert await router.liveness.wait_available(service_id, timeout_s=5)
        return service

    return start


async def audit_records(nc: NATS, subjects: Subjects) -> list[dict[str, Any]]:
    """Every record in this test's audit stream, oldest first (secure bus: as the admin)."""
    js = (await as_admin(nc)).jetstream()
    info = await js.stream_info(subjects.audit_stream)
    records = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        if info.state.messages == 0:
            break
        msg = await js.get_msg(subjects.audit_stream, seq)
        records.append(orjson.loads(msg.data))
    return records
