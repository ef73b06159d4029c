"""`caio services` says why a worker that heartbeats is still not live."""

from __future__ import annotations

import orjson
from nats.aio.client import Client as NATS

from caio_broker.router import Router
from caio_integration.subjects import Subjects
from tests.cli.conftest import caio
from tests.integration.conftest import contract, request


async def test_a_rejected_heartbeat_is_shown_beside_its_service(
    nats_url: str, prefix: str, nc: NATS, subjects: Subjects, router: Router
) -> None:
    await request(nc, subjects.registry("register"), {"contract": contract("odd-clock")})
    bad = {"service_id": "odd-clock", "instance_id": "i", "ts": "tuesday"}
    await nc.publish(subjects.heartbeat("odd-clock"), orjson.dumps(bad))
    # A good heartbeat behind it on the same subscription: once it is seen, so was the bad one.
    marker = {"service_id": "marker", "instance_id": "m", "ts": 0}
    await nc.publish(subjects.heartbeat("marker"), orjson.dumps(marker))
    assert await router.liveness.wait_available("marker", timeout_s=5)

    shown = await caio("services", "--nats-url", nats_url, "--prefix", prefix)

    assert shown.code == 0, shown.text
    assert "odd-clock: last heartbeat rejected" in shown.out
    assert "RFC 3339" in " ".join(shown.out.split())
