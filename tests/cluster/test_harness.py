"""The harness itself, and a router with ``replicas=3`` on it: every asset at R3."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import nats
import pytest
from nats.js.api import StreamInfo

from caio_broker.audit import AuditSettings
from caio_broker.router import Router
from caio_integration import natscluster
from caio_integration._natsconn import server_list
from caio_integration.natscluster import NatsCluster, NatsClusterConfig
from caio_integration.subjects import Subjects
from tests.cluster.conftest import Connect, SpreadWorkers, StartRouter, cluster_router_config
from tests.cluster.replicas import prefix_streams, stream_names


def test_three_nodes_form_one_cluster_that_fsyncs_every_write(cluster: NatsCluster) -> None:
    nodes = cluster.nodes
    ports = [p for n in nodes for p in (n.ports.client, n.ports.cluster, n.ports.http)]

    assert len(set(ports)) == 9
    assert len({n.store_dir for n in nodes}) == 3
    assert {cluster.meta_leader(n.index) for n in nodes} < {n.name for n in nodes}
    for node in nodes:
        assert cluster.routes_to(node.index) == {n.name for n in nodes} - {node.name}
        assert cluster.healthy(node.index)
        _, varz = node.monitor("/varz")
        assert varz["jetstream"]["config"]["sync_always"] is True
        assert varz["cluster"]["name"] == cluster.config.cluster_name


def test_startup_is_measured_and_stop_leaves_nothing_running(tmp_path: Path) -> None:
    started = time.monotonic()
    with NatsCluster(NatsClusterConfig(base_dir=tmp_path)) as cluster:
        up_s = time.monotonic() - started
        pids = [n.server.pid for n in cluster.nodes]
    down_s = time.monotonic() - started - up_s

    print(
        f"\n3-node cluster: up (meta leader, converged) in {up_s:.2f} s, stopped in {down_s:.2f} s"
    )
    assert all(pid is not None for pid in pids)
    assert not any(n.running for n in cluster.nodes)


async def test_a_client_given_the_seed_list_fails_over_to_a_live_node(
    cluster: NatsCluster,
) -> None:
    reconnected = asyncio.Event()

    async def on_reconnect() -> None:
        reconnected.set()

    nc = await nats.connect(
        server_list(cluster.url), max_reconnect_attempts=-1, reconnected_cb=on_reconnect
    )
    try:
        assert nc.connected_url is not None
        first = nc.connected_url.port
        index = next(n.index for n in cluster.nodes if n.ports.client == first)
        cluster.kill(index)
        await asyncio.wait_for(reconnected.wait(), 10)
        await nc.flush(timeout=5)
        assert nc.connected_url is not None and nc.connected_url.port != first
    finally:
        await nc.close()


async def replicas_of_every_asset(router: Router, subjects: Subjects) -> dict[str, int]:
    js = router.nc.jetstream()
    found: dict[str, int] = {}
    for name in prefix_streams(subjects, await stream_names(router.nc)):
        info: StreamInfo = await js.stream_info(name)
        found[name] = info.config.num_replicas or 1
    consumer = await js.consumer_info(subjects.jobs_stream, "caio-jobs")
    found["caio-jobs consumer"] = consumer.config.num_replicas or 0
    return found


async def test_replicas_3_puts_the_registry_keys_jobs_and_limits_at_r3(
    subjects: Subjects,
    start_router: StartRouter,
    spread_workers: SpreadWorkers,
    connect: Connect,
) -> None:
    router = await start_router(0)
    await spread_workers("limited", [1], [router], per_minute=100, max_concurrent=5)
    caller = await connect(2)
    reply = await caller.nc.request(subjects.route("code_review"), b'{"context": {}}', timeout=10)
    assert b'"ok"' in reply.data, reply.data  # the limit streams exist once a call used them

    replicas = await replicas_of_every_asset(router, subjects)

    replicas.pop(subjects.audit_stream)  # see the next test
    assert set(replicas.values()) == {3}, replicas
    # 4 KV (registry, keys, spend, cache), 3 jobs streams, 2 limit streams, the consumer
    assert len(replicas) == 10, replicas


async def test_replicas_3_alone_makes_the_audit_stream_r3(
    cluster: NatsCluster, prefix: str, subjects: Subjects
) -> None:
    router = Router(cluster_router_config(cluster.urls[0], prefix, audit=AuditSettings()))
    await router.start()
    try:
        info = await router.nc.jetstream().stream_info(subjects.audit_stream)
    finally:
        await router.stop()

    assert info.config.num_replicas == 3


async def test_a_second_router_leaves_an_r3_audit_stream_at_r3(
    cluster: NatsCluster, prefix: str, subjects: Subjects, start_router: StartRouter
) -> None:
    await start_router(0)  # replicas=3: the audit stream at R3 too
    second = Router(cluster_router_config(cluster.urls[1], prefix, audit=AuditSettings()))
    await second.start()
    try:
        info = await second.nc.jetstream().stream_info(subjects.audit_stream)
    finally:
        await second.stop()

    assert info.config.num_replicas == 3


def test_a_port_taken_before_the_server_binds_it_is_retried_with_fresh_ports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process takes a port between ``free_port`` and the bind: new ports, again."""
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        handed: list[int] = []
        real = natscluster.free_port

        def first_a_taken_one(host: str = "127.0.0.1") -> int:
            # The 5th port is n2's route port: nats-server reports it taken only after "ready".
            port = taken if len(handed) == 4 else real(host)
            handed.append(port)
            return port

        monkeypatch.setattr(natscluster, "free_port", first_a_taken_one)
        with NatsCluster(NatsClusterConfig(base_dir=tmp_path)) as cluster:
            routes = {n.ports.cluster for n in cluster.nodes}

    assert handed.count(taken) == 1 and len(handed) == 18  # two rounds of 3 x 3 ports
    assert taken not in routes
