"""Heartbeats from workers in any language: RFC 3339 or epoch ``ts``, rejections shown.

Each heartbeat is published with bare nats-py, as a worker in another
language would. The router handles one subscription's messages in order, so
a good heartbeat from a second service, once seen, proves the one sent
before it was handled too: no sleeps.
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import orjson
from nats.aio.client import Client as NATS

from caio_broker.router import Router
from caio_integration.subjects import Subjects
from tests.integration.conftest import FakeService, contract, request


async def beat(nc: NATS, subject: str, body: dict[str, Any] | bytes) -> None:
    payload = body if isinstance(body, bytes) else orjson.dumps(body)
    await nc.publish(subject, payload)
    await nc.flush()


_markers = itertools.count()


async def handled(nc: NATS, subjects: Subjects, router: Router) -> None:
    """Wait until the router handled every heartbeat sent before this call."""
    marker = f"marker-{next(_markers)}"
    await beat(
        nc,
        subjects.heartbeat(marker),
        {"service_id": marker, "instance_id": "m", "ts": 0},
    )
    assert await router.liveness.wait_available(marker, timeout_s=5)


async def register(nc: NATS, subjects: Subjects, service_id: str) -> FakeService:
    reply = await request(nc, subjects.registry("register"), {"contract": contract(service_id)})
    assert reply["status"] == "registered", reply
    return await FakeService(nc, subjects, service_id, ["code_review"]).start()


async def listed(nc: NATS, subjects: Subjects, service_id: str) -> dict[str, Any]:
    reply = await request(nc, subjects.registry("list"), {})
    return next(s for s in reply["services"] if s["service_id"] == service_id)


async def test_a_worker_heartbeating_rfc3339_time_is_routed_to(
    nc: NATS, subjects: Subjects, router: Router
) -> None:
    await register(nc, subjects, "js-like")
    now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    await beat(
        nc,
        subjects.heartbeat("js-like"),
        {"service_id": "js-like", "instance_id": "node-1", "ts": now},
    )
    assert await router.liveness.wait_available("js-like", timeout_s=5)
    reply = await request(nc, subjects.route("code_review"), {"context": {"x": 1}})

    assert reply["status"] == "ok"
    assert reply["service_id"] == "js-like"


async def test_an_unusable_heartbeat_is_shown_with_its_reason_until_a_good_one_comes(
    nc: NATS, subjects: Subjects, router: Router
) -> None:
    service = await register(nc, subjects, "odd-clock")

    await beat(
        nc,
        subjects.heartbeat("odd-clock"),
        {"service_id": "odd-clock", "instance_id": "i", "ts": "tuesday"},
    )
    await handled(nc, subjects, router)
    shown = await listed(nc, subjects, "odd-clock")
    stats = await request(nc, subjects.registry("stats"), {})

    await service.beat()
    await handled(nc, subjects, router)
    recovered = await listed(nc, subjects, "odd-clock")

    assert shown["availability"] == "unavailable"
    assert "ts" in shown["last_heartbeat_rejected"]["reason"]
    assert "RFC 3339" in shown["last_heartbeat_rejected"]["reason"]
    assert shown["last_heartbeat_rejected"]["count"] == 1
    assert stats["rejected"]["heartbeat"] == 1
    assert recovered["availability"] == "available"
    assert "last_heartbeat_rejected" not in recovered


async def test_a_heartbeat_on_another_services_subject_is_rejected(
    nc: NATS, subjects: Subjects, router: Router
) -> None:
    await register(nc, subjects, "victim")

    await beat(
        nc,
        subjects.heartbeat("victim"),
        {"service_id": "impostor", "instance_id": "i", "ts": 0},
    )
    await handled(nc, subjects, router)
    shown = await listed(nc, subjects, "victim")

    assert shown["availability"] == "unavailable"
    assert "impostor" in shown["last_heartbeat_rejected"]["reason"]
    assert not router.liveness.is_available("impostor")


async def test_a_heartbeat_that_is_not_json_is_counted(
    nc: NATS, subjects: Subjects, router: Router
) -> None:
    await register(nc, subjects, "garbled")

    await beat(nc, subjects.heartbeat("garbled"), b"alive!")
    await beat(nc, subjects.heartbeat("garbled"), b"alive!")
    await handled(nc, subjects, router)
    shown = await listed(nc, subjects, "garbled")

    assert shown["last_heartbeat_rejected"]["count"] == 2
    assert shown["last_heartbeat_rejected"]["reason"]


async def test_a_rejected_registration_is_counted(
    nc: NATS, subjects: Subjects, router: Router
) -> None:
    rejected = await request(
        nc, subjects.registry("register"), {"contract": {"service": {"id": "Not.Safe"}}}
    )
    stats = await request(nc, subjects.registry("stats"), {})

    assert rejected["error"]["code"] == "invalid_contract"
    assert stats["rejected"]["registration"] == 1
