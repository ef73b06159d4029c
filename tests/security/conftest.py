"""Security fixtures: the default (authenticated) router, keys, and a state snapshot.

``state`` captures what an attack must not change: the registry (ids and
revisions) and the audit stream's length. Each attack test compares the
state before and after, allowing only the denial record.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from nats.aio.client import Client as NATS
from nats.js.errors import NoKeysError

from caio_broker.auth.keys import CallerPolicy, Role
from caio_broker.router import Router, RouterConfig
from caio_integration.subjects import Subjects
from tests.integration.conftest import FakeService, contract


@pytest.fixture
async def secure_router(nats_url: str, prefix: str) -> AsyncIterator[Router]:
    service = Router(RouterConfig(nats_url=nats_url, prefix=prefix))
    await service.start()
    yield service
    await service.stop()


MakeKey = Callable[..., Awaitable[str]]


@pytest.fixture
def make_key(secure_router: Router) -> MakeKey:
    """Create a key straight in the store (as `caio up` does) and return its secret."""

    async def make(
        name: str,
        role: Role = "caller",
        *,
        capabilities: list[str] | None = None,
        services: list[str] | None = None,
        expires_at: float | None = None,
        **policy: Any,
    ) -> str:
        assert secure_router.keys is not None
        secret, _ = await secure_router.keys.create(
            name,
            role,
            capabilities=capabilities,
            services=services,
            policy=CallerPolicy(**policy),
            expires_at=expires_at,
        )
        return secret

    return make


@pytest.fixture
async def admin(make_key: MakeKey) -> str:
    return await make_key("root", "admin")


async def ask(nc: NATS, subject: str, body: Any, key: str | None = None) -> dict[str, Any]:
    """One request as any client sends it, with ``Authorization: Bearer <key>`` if given."""
    payload = body if isinstance(body, bytes) else orjson.dumps(body)
    headers = {"Authorization": f"Bearer {key}"} if key else None
    msg = await nc.request(subject, payload, timeout=10, headers=headers)
    reply = orjson.loads(msg.data)
    assert isinstance(reply, dict)
    return reply


@dataclass(frozen=True)
class State:
    registry: dict[str, int]
    audit_messages: int


async def state(nc: NATS, subjects: Subjects) -> State:
    js = nc.jetstream()
    kv = await js.key_value(subjects.registry_bucket)
    registry: dict[str, int] = {}
    with contextlib.suppress(NoKeysError):  # an empty registry
        for key in await kv.keys():
            entry = await kv.get(key)
            assert entry.revision is not None
            registry[key] = entry.revision
    info = await js.stream_info(subjects.audit_stream)
    return State(registry, info.state.messages)


async def last_audit(nc: NATS, subjects: Subjects) -> dict[str, Any]:
    js = nc.jetstream()
    info = await js.stream_info(subjects.audit_stream)
    msg = await js.get_msg(subjects.audit_stream, info.state.last_seq)
    record = orjson.loads(msg.data)
    assert isinstance(record, dict)
    return record


LiveService = Callable[..., Awaitable[FakeService]]


@pytest.fixture
async def live_service(
    nc: NATS, subjects: Subjects, secure_router: Router, admin: str
) -> LiveService:
    """A registered (by the admin key), heartbeating fake service instance."""

    async def start(
        service_id: str, capabilities: list[str] | None = None, **contract_args: Any
    ) -> FakeService:
        caps = capabilities or ["code_review"]
        reply = await ask(
            nc,
            subjects.registry("register"),
            {"contract": contract(service_id, caps, **contract_args)},
            admin,
        )
        assert reply["status"] == "registered", reply
        service = await FakeService(nc, subjects, service_id, caps).start()
        await service.beat()
        assert await secure_router.liveness.wait_available(service_id, timeout_s=5)
        return service

    return start


def now() -> float:
    return time.time()
