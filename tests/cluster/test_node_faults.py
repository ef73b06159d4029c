"""kill -9 a NATS node under steady routed load and durable jobs.

Two routers (on n1 and n2), an echo service with one instance per node, and
callers on every node send route requests and submit jobs at a fixed rate.
A node is SIGKILLed, stays down until the rest have served a number of
requests without it, and is restarted on its store. Then:

- every ok route reply has exactly one ``route`` audit record (lost = 0,
  duplicated = 0): the router answers only after JetStream acked it;
- every acked job has exactly one stored result, an ok one, and an audit
  record (lost = 0, duplicated visible = 0);
- the clients on the killed node reconnected, and the restarted node's
  replica of every CAIO stream is the same as the others'.

The counts and the success rate while the node was down are printed
(``pytest -s`` shows them). The quick form kills the node no router uses,
then a router's node; ``-m slow`` runs longer, faster, and also kills the
audit stream's leader and the JetStream meta leader.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import pytest
from nats.aio.client import Client as NATS

from caio_integration.client import CAIOClient
from caio_integration.natscluster import NatsCluster
from caio_integration.subjects import Subjects
from tests.cluster.conftest import Connect, SpreadWorkers, StartRouter
from tests.cluster.load import (
    JobLoad,
    RouteLoad,
    audit_lost_for_jobs,
    job_counts,
    kept,
    route_counts,
    wait_for_results,
)
from tests.cluster.replicas import lead, replicas_agree, stream_leaders

ROUTER_NODES = (0, 1)  # router A on n1, router B on n2; n3 has none


@dataclass(frozen=True)
class Plan:
    route_rate: float  # route requests per second, over all callers
    job_rate: float  # jobs submitted per second
    ok_before: int  # ok replies before the first kill
    ok_while_down: int  # the node stays down until this many more were ok
    ok_after: int  # and after its restart, this many more before the next kill
    victims: tuple[str, ...]  # "idle", "router", "audit_leader", "meta_leader"


QUICK_IDLE = Plan(30, 10, ok_before=30, ok_while_down=40, ok_after=20, victims=("idle",))
QUICK_ROUTER = Plan(30, 10, ok_before=30, ok_while_down=40, ok_after=20, victims=("router",))
LONG = Plan(
    80,
    30,
    ok_before=200,
    ok_while_down=600,
    ok_after=300,
    victims=("idle", "router", "audit_leader", "meta_leader", "idle"),
)


async def pick_victim(kind: str, cluster: NatsCluster, nc: NATS, subjects: Subjects) -> int:
    if kind == "idle":
        return 2
    if kind == "router":
        # Router A's node, made the leader of the streams every request and job
        # writes to: its loss costs a leader election on each of them.
        victim = ROUTER_NODES[0]
        for stream in (subjects.audit_stream, subjects.jobs_stream, subjects.results_stream):
            await lead(nc, stream, cluster.node(victim).name)
        return victim
    if kind == "audit_leader":
        info = await nc.jetstream().stream_info(subjects.audit_stream)
        assert info.cluster is not None and info.cluster.leader is not None
        return cluster.index_of(info.cluster.leader)
    if kind == "meta_leader":
        leader = await asyncio.to_thread(cluster.meta_leader, 0)
        assert leader is not None
        return cluster.index_of(leader)
    raise ValueError(kind)


async def run(
    plan: Plan,
    cluster: NatsCluster,
    subjects: Subjects,
    connect: Connect,
    start_router: StartRouter,
    spread_workers: SpreadWorkers,
) -> None:
    started = time.monotonic()
    routers = [await start_router(node) for node in ROUTER_NODES]
    workers = await spread_workers("echo", [0, 1, 2], routers)
    callers = [await connect(node) for node in (0, 1, 2)]
    submitter = await connect(2)
    observer = await connect(1)  # reads leaders and, at the end, what was kept
    faults: list[tuple[int, str, list[str], str | None, float, float, float]] = []
    killed: set[int] = set()

    async with CAIOClient(prefix=subjects.prefix, nc=submitter.nc, timeout_s=10) as caio:
        routes = RouteLoad([c.nc for c in callers], subjects, plan.route_rate)
        jobs = JobLoad(caio, plan.job_rate)
        routes.start()
        jobs.start()
        await routes.until_ok(plan.ok_before, 30)

        for kind in plan.victims:
            victim = await pick_victim(kind, cluster, observer.nc, subjects)
            leaders = await stream_leaders(observer.nc, subjects, cluster.node(victim).name)
            meta = await asyncio.to_thread(cluster.meta_leader, (victim + 1) % 3)
            down_at = time.monotonic()
            cluster.kill(victim)
            killed.add(victim)
            await routes.until_ok(routes.ok_count + plan.ok_while_down, 60)
            down_s = time.monotonic() - down_at
            await asyncio.to_thread(cluster.restart, victim)  # and every replica current
            back_at = time.monotonic()
            faults.append((victim, kind, leaders, meta, down_at, down_s, back_at))
            await routes.until_ok(routes.ok_count + plan.ok_after, 60)

        await routes.stop()
        await jobs.stop()
        await wait_for_results(observer.nc, subjects, jobs.ids("ok"), timeout_s=45)
    found = await kept(observer.nc, subjects)
    routed, queued = route_counts(routes, found), job_counts(jobs, found)
    audit_missing_for_jobs = audit_lost_for_jobs(jobs, found)
    not_ok_results = {
        rid: results[0].get("error", {}).get("code")
        for rid in jobs.ids("ok")
        for results in [found.results.get(rid, [])]
        if results and results[0]["status"] != "ok"
    }
    reconnected = {c.node: c.reconnects for c in callers}
    agree = await replicas_agree(cluster, subjects)

    print()
    for victim, kind, leaders, meta, down_at, down_s, back_at in faults:
        fault, job_fault = routes.window(down_at, back_at), jobs.window(down_at, back_at)
        print(
            f"kill -9 n{victim + 1} ({kind}; it led: {', '.join(leaders) or 'no stream'}"
            f"{'; the meta group' if meta == cluster.node(victim).name else ''}): "
            f"down {down_s:.1f} s, back and current {back_at - down_at:.1f} s after the kill; "
            f"routed meanwhile: {fault.ok}/{fault.sent} ok ({fault.success_rate:.1%}) "
            f"{fault.outcomes}; jobs acked meanwhile: {job_fault.ok}/{job_fault.sent}"
        )
    print(routed.line())
    print(queued.line())
    print(
        f"jobs without an audit record: {audit_missing_for_jobs}; service calls: {workers.calls}; "
        f"longest gap between ok replies: {routes.longest_gap_s():.2f} s; "
        f"caller reconnects by node: {reconnected}; total {time.monotonic() - started:.1f} s"
    )

    assert routed.lost == 0 and routed.duplicated_visible == 0, routed
    assert queued.lost == 0 and queued.duplicated_visible == 0, queued
    assert audit_missing_for_jobs == 0
    assert not not_ok_results, not_ok_results
    assert found.jobs_waiting == 0
    for caller in callers:
        if caller.node in killed:
            assert caller.reconnects >= 1, reconnected
    assert all(r.nc.is_connected for r in routers)
    assert agree, "a restarted node's replica differs from the others'"
    # Routing kept working around the fault: requests sent after it were answered.
    last = routes.sent[-plan.ok_after // 2 :]
    assert all(s.outcome == "ok" for s in last), {s.outcome for s in last}


async def test_kill_9_the_node_without_a_router_loses_no_acked_job_or_audit_record(
    cluster: NatsCluster,
    subjects: Subjects,
    connect: Connect,
    start_router: StartRouter,
    spread_workers: SpreadWorkers,
) -> None:
    await run(QUICK_IDLE, cluster, subjects, connect, start_router, spread_workers)


async def test_kill_9_a_routers_node_loses_nothing_and_the_router_reconnects(
    cluster: NatsCluster,
    subjects: Subjects,
    connect: Connect,
    start_router: StartRouter,
    spread_workers: SpreadWorkers,
) -> None:
    await run(QUICK_ROUTER, cluster, subjects, connect, start_router, spread_workers)


@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_kill_9_node_after_node_for_longer_under_more_load(
    cluster: NatsCluster,
    subjects: Subjects,
    connect: Connect,
    start_router: StartRouter,
    spread_workers: SpreadWorkers,
) -> None:
    await run(LONG, cluster, subjects, connect, start_router, spread_workers)
