"""A node cut off from the cluster, then back: the registry is the same everywhere after.

A router runs on each node. Node n3 is made the leader of the registry's
KV stream and then partitioned (its routes cut; it keeps running and keeps
its clients, see ``NatsCluster.partition``). While it is out, the majority
registers, replaces and deregisters contracts, and a caller on n3 tries to
register through the router there, which cannot reach a quorum. After the
partition heals:

- the write tried on the minority side was never acknowledged and is nowhere;
- every node's replica of the KV stream is identical (``/jsz`` per node);
- all three routers' catalogs equal the bucket's content, including the
  router on n3, which followed the bucket through the partition;
- a new registration reaches all three routers.

The second test does the same with a SIGKILL and restart of n3 instead of
the partition.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
import pytest
from nats.aio.client import Client as NATS
from nats.js.errors import NoKeysError

from caio_broker.router import Router
from caio_integration.natscluster import NatsCluster
from caio_integration.subjects import Subjects
from tests.cluster.conftest import Connect, StartRouter
from tests.cluster.replicas import lead, replica_states, replicas_agree
from tests.integration.conftest import contract

OUT = 2  # n3


async def registry_op(
    nc: NATS, subjects: Subjects, operation: str, body: dict[str, Any], timeout_s: float = 10
) -> dict[str, Any]:
    msg = await nc.request(subjects.registry(operation), orjson.dumps(body), timeout=timeout_s)
    reply = orjson.loads(msg.data)
    assert isinstance(reply, dict)
    return reply


async def until_done(
    nc: NATS, subjects: Subjects, operation: str, body: dict[str, Any], done: set[str]
) -> int:
    """Repeat a registry write until it lands (a leader election can take seconds).

    Idempotent as repeated: registering the same contract is "unchanged" and a
    deregistration that already happened answers ``not_found``.
    """
    deadline = time.monotonic() + 30
    while True:
        try:
            reply = await registry_op(nc, subjects, operation, body)
        except TimeoutError:
            reply = {"status": "timeout"}
        code = reply.get("error", {}).get("code") if reply["status"] == "error" else None
        if reply["status"] in done or code in done:
            return int(reply.get("revision") or 0)
        assert time.monotonic() < deadline, reply
        await asyncio.sleep(0.2)


async def bucket(nc: NATS, subjects: Subjects) -> dict[str, int]:
    """The registry bucket: service id -> revision (what every catalog must hold)."""
    kv = await nc.jetstream().key_value(subjects.registry_bucket)
    try:
        keys = await kv.keys()
    except NoKeysError:
        return {}
    content = {}
    for key in keys:
        entry = await kv.get(key)
        assert entry.revision is not None
        content[key] = entry.revision
    return content


def catalog(router: Router) -> dict[str, int]:
    return {entry.contract.id: entry.revision for entry in router.catalog.entries()}


async def cut_off_and_rejoin(
    fault: str,
    cluster: NatsCluster,
    subjects: Subjects,
    connect: Connect,
    start_router: StartRouter,
) -> None:
    started = time.monotonic()
    routers = [await start_router(node) for node in (0, 1, 2)]
    majority, minority = await connect(0), await connect(OUT)
    for sid in ("s1", "s2", "s3"):
        await until_done(
            majority.nc, subjects, "register", {"contract": contract(sid)}, {"registered"}
        )
    stream = f"KV_{subjects.registry_bucket}"
    await lead(majority.nc, stream, cluster.node(OUT).name)
    was_meta_leader = await asyncio.to_thread(cluster.meta_leader, 0) == cluster.node(OUT).name

    out_at = time.monotonic()
    if fault == "partition":
        await asyncio.to_thread(cluster.partition, OUT)
        # Only n3's router hears this one, and it has no quorum; tried while the majority works.
        minority_write = asyncio.create_task(
            registry_op(minority.nc, subjects, "register", {"contract": contract("s5")}, 15)
        )
    else:
        cluster.kill(OUT)
    changed = contract("s1", accuracy=0.95)
    s4 = contract("s4")
    await until_done(majority.nc, subjects, "register", {"contract": s4}, {"registered"})
    await until_done(
        majority.nc, subjects, "register", {"contract": changed, "replace": True}, {"registered"}
    )
    last = await until_done(
        majority.nc, subjects, "deregister", {"service_id": "s2"}, {"deregistered", "not_found"}
    )
    majority_s = time.monotonic() - out_at
    minority_reply: dict[str, Any] = {"status": "node down"}
    if fault == "partition":
        try:
            minority_reply = await minority_write
        except TimeoutError:
            minority_reply = {"status": "timeout"}
        await asyncio.to_thread(cluster.heal)
    else:
        await asyncio.to_thread(cluster.restart, OUT)
    back_s = time.monotonic() - out_at

    for router in routers:  # the router on n3 too: its watch must pick up what it missed
        assert await router.catalog.wait_for_revision(last, 20), catalog(router)
    stored = await bucket(majority.nc, subjects)
    catalogs = [catalog(r) for r in routers]
    agree = await replicas_agree(cluster, subjects)
    after = await until_done(
        minority.nc, subjects, "register", {"contract": contract("s6")}, {"registered"}
    )
    for router in routers:
        assert await router.catalog.wait_for_revision(after, 20)

    print(
        f"\n{fault} of n3 (leader of {stream}{', and the meta group' if was_meta_leader else ''}):"
        f" majority's 3 writes done {majority_s:.1f} s after; n3 back and current after "
        f"{back_s:.1f} s; minority write answered {minority_reply.get('status')} "
        f"{minority_reply.get('error', {}).get('code', '')}; bucket {stored}; "
        f"total {time.monotonic() - started:.1f} s"
    )
    assert minority_reply["status"] != "registered"
    assert set(stored) == {"s1", "s3", "s4"}, (catalogs, replica_states(cluster, [stream]))
    assert catalogs == [stored] * 3
    assert agree, "the nodes' replicas of the registry differ"
    assert all("s6" in catalog(r) and "s5" not in catalog(r) for r in routers)


async def test_a_partitioned_registry_leader_rejoins_and_the_registry_reads_the_same_everywhere(
    cluster: NatsCluster, subjects: Subjects, connect: Connect, start_router: StartRouter
) -> None:
    await cut_off_and_rejoin("partition", cluster, subjects, connect, start_router)


@pytest.mark.slow
async def test_a_killed_registry_leader_restarts_and_the_registry_reads_the_same_everywhere(
    cluster: NatsCluster, subjects: Subjects, connect: Connect, start_router: StartRouter
) -> None:
    await cut_off_and_rejoin("kill", cluster, subjects, connect, start_router)
