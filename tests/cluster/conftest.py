"""Cluster fixtures: a 3-node NATS cluster per module, routers and workers spread over it.

One ``NatsCluster`` (caio_integration.natscluster) serves each test module:
it starts in about 0.4 s, but a module's tests share it anyway, each under
its own subject prefix. After every test the cluster is put back (killed
nodes restarted, a partition healed, every replica current) and the test's
streams are deleted, so the next test starts on three healthy nodes that
carry no one else's Raft groups.

Routers are the real ``Router`` in this process, ``replicas=3``, each
connected to the node a test names; workers and callers are bare nats-py
connections (``FakeService`` from the integration suite), one per node, so
queue groups span the cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import nats
import orjson
import pytest
from nats.aio.client import Client as NATS

from caio_broker.jobs import JobSettings
from caio_broker.router import AuthSettings, Router, RouterConfig
from caio_integration.natscluster import NatsCluster, NatsClusterConfig
from caio_integration.subjects import Subjects
from tests.integration.conftest import FakeService, contract

# Jobs in these tests: a router starts fetching soon after it starts, a job
# whose router lost its node comes back after 3 s, and retries are quick, so
# a fault's retries fit in a bounded test (the defaults are 5 s, 30 s, 1-30 s).
TEST_JOBS = JobSettings(
    warmup_s=1.0, ack_wait_s=3.0, retry_backoff_s=(0.5, 1.0, 2.0), max_attempts=8
)


def cluster_router_config(url: str, prefix: str, **overrides: Any) -> RouterConfig:
    """What every router here runs with: R3 (the audit stream too), caller auth off
    unless ``auth`` is passed."""
    auth = overrides.pop("auth", AuthSettings(required=False))
    options: dict[str, Any] = {
        "replicas": 3,
        "jobs": TEST_JOBS,
        "discovery_window_s": 0,
    }
    options.update(overrides)
    return RouterConfig(nats_url=url, prefix=prefix, auth=auth, **options)


@pytest.fixture(scope="module")
def cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[NatsCluster]:
    """Three nats-server nodes as one cluster (R3 possible), for this module."""
    if request.config.getoption("bus") == "secure":
        pytest.skip("the cluster runs the open config; --bus=secure is one node")
    # Up to 60 s for a node to be back and current; measured 1-8 s after a restart and
    # 3-16 s after a partition heals (a healed node's higher Raft terms force elections).
    config = NatsClusterConfig(base_dir=tmp_path_factory.mktemp("cluster"), ready_timeout_s=60)
    with NatsCluster(config) as started:
        yield started


@pytest.fixture(autouse=True)
async def _cluster_restored(cluster: NatsCluster, prefix: str) -> AsyncIterator[None]:
    """After the test: every node up, routes healed, replicas current, its streams gone."""
    yield
    await asyncio.to_thread(restore, cluster)
    nc = await nats.connect(cluster.urls)
    try:
        suffix = Subjects(prefix).jetstream_name("X")[1:]  # "_<prefix>"
        js = nc.jetstream()
        for info in await js.streams_info():
            if info.config.name and info.config.name.endswith(suffix):
                await js.delete_stream(info.config.name)
    finally:
        await nc.close()


def restore(cluster: NatsCluster) -> None:
    if cluster.isolated:
        cluster.heal()
    for node in cluster.nodes:
        if not node.running:
            cluster.restart(node.index, wait_current=False)
    cluster.wait_converged()


# -- connections ---------------------------------------------------------------------


@dataclass
class Conn:
    """A client connection to one node, counting its reconnects (to any node)."""

    nc: NATS
    node: int
    disconnects: int = 0
    reconnects: int = 0


Connect = Callable[..., Awaitable[Conn]]


@pytest.fixture
async def connect(cluster: NatsCluster) -> AsyncIterator[Connect]:
    """``await connect(node)``: a client on that node that reconnects forever, quickly."""
    opened: list[Conn] = []

    async def open_(node: int, **options: Any) -> Conn:
        conn = Conn(nc=NATS(), node=node)

        async def disconnected() -> None:
            conn.disconnects += 1

        async def reconnected() -> None:
            conn.reconnects += 1

        settings: dict[str, Any] = {
            "max_reconnect_attempts": -1,
            "reconnect_time_wait": 0.2,
            "disconnected_cb": disconnected,
            "reconnected_cb": reconnected,
        }
        settings.update(options)
        await conn.nc.connect(cluster.urls[node], **settings)
        opened.append(conn)
        return conn

    yield open_
    for conn in opened:
        with contextlib.suppress(Exception):
            await conn.nc.close()


StartRouter = Callable[..., Awaitable[Router]]


@pytest.fixture
async def start_router(cluster: NatsCluster, prefix: str) -> AsyncIterator[StartRouter]:
    """``await start_router(node, **RouterConfig fields)``; all stopped at teardown."""
    started: list[Router] = []

    async def start(node: int, **overrides: Any) -> Router:
        router = Router(cluster_router_config(cluster.urls[node], prefix, **overrides))
        await router.start()
        started.append(router)
        return router

    yield start
    for router in started:
        with contextlib.suppress(Exception):
            await router.stop()


# -- workers ---------------------------------------------------------------------------


@dataclass
class Workers:
    """Instances of one service, one per node, in one queue group, heartbeating."""

    service_id: str
    instances: list[FakeService]
    revision: int
    _beating: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def calls(self) -> int:
        return sum(len(w.received) for w in self.instances)

    def configure(self, **attributes: Any) -> None:
        for worker in self.instances:
            for name, value in attributes.items():
                setattr(worker, name, value)

    async def stop(self) -> None:
        for task in self._beating:
            task.cancel()
        await asyncio.gather(*self._beating, return_exceptions=True)


async def _beat_forever(worker: FakeService, every_s: float) -> None:
    while True:
        with contextlib.suppress(Exception):  # its node is down: the next beat, elsewhere
            await asyncio.wait_for(worker.beat(), every_s)
        await asyncio.sleep(every_s)


SpreadWorkers = Callable[..., Awaitable[Workers]]


@pytest.fixture
async def spread_workers(connect: Connect, subjects: Subjects) -> AsyncIterator[SpreadWorkers]:
    """Register ``service_id`` and run one instance on each given node, heartbeating.

    Returns once every router passed in has the contract and a heartbeat.
    """
    running: list[Workers] = []

    async def spread(
        service_id: str,
        nodes: list[int],
        routers: list[Router],
        *,
        api_key: str | None = None,
        **contract_args: Any,
    ) -> Workers:
        admin = await connect(nodes[0])
        body = {"contract": contract(service_id, **contract_args)}
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
        msg = await admin.nc.request(
            subjects.registry("register"), orjson.dumps(body), timeout=10, headers=headers
        )
        reply = orjson.loads(msg.data)
        assert reply["status"] == "registered", reply
        instances = []
        for node in nodes:
            conn = await connect(node)
            worker = FakeService(conn.nc, subjects, service_id, ["code_review"])
            worker.instance_id = f"{service_id}-n{node + 1}"
            instances.append(await worker.start())
        workers = Workers(service_id, instances, reply["revision"])
        workers._beating = [asyncio.create_task(_beat_forever(w, 1.0)) for w in workers.instances]
        running.append(workers)
        for router in routers:
            assert await router.catalog.wait_for_revision(workers.revision, 10)
            assert await router.liveness.wait_available(service_id, timeout_s=10)
        return workers

    yield spread
    for workers in running:
        await workers.stop()
