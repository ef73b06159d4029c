"""A router that starts knows the workers already serving, without waiting for heartbeats.

The worker heartbeats once a minute here, so only the restarted router's
``$SRV.PING`` can tell it the worker is there; a worker of another subject
prefix on the same server answers the ping too, and must not count.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from nats.aio.client import Client as NATS

from caio_integration.bridge import WorkerConfig
from caio_integration.subjects import Subjects
from tests.fakes.scripted_worker import ScriptedWorker, scripted_contract
from tests.integration.conftest import StartRouter, request


@pytest.fixture
async def quiet_worker(nats_url: str, prefix: str) -> AsyncIterator[ScriptedWorker]:
    """A worker that heartbeats at start and then not again for a minute."""
    config = WorkerConfig(nats_url=nats_url, prefix=prefix, heartbeat_interval_s=60)
    worker = ScriptedWorker(scripted_contract("quiet"), config)
    await worker.start()
    yield worker
    await worker.stop()


async def test_a_restarted_router_finds_a_running_worker_at_once(
    nc: NATS, subjects: Subjects, start_router: StartRouter, quiet_worker: ScriptedWorker
) -> None:
    first = await start_router()
    registered = await request(
        nc,
        subjects.registry("register"),
        {"contract": quiet_worker.contract.to_document()},
    )
    assert registered["status"] == "registered"
    await first.stop()

    second = await start_router()

    assert await second.liveness.wait_available("quiet", timeout_s=2)
    reply = await request(nc, subjects.route("echo"), {"context": {"n": 1}})
    assert reply["status"] == "ok"
    assert reply["service_id"] == "quiet"


async def test_a_worker_of_another_prefix_is_not_taken_for_one_of_ours(
    nats_url: str, start_router: StartRouter
) -> None:
    config = WorkerConfig(nats_url=nats_url, prefix="other-caio", heartbeat_interval_s=60)
    stranger = ScriptedWorker(scripted_contract("stranger"), config)
    await stranger.start()
    try:
        router = await start_router()
        assert router._discovery is not None
        answered = await router._discovery
    finally:
        await stranger.stop()

    assert not router.liveness.is_available("stranger")
    assert answered == 0
