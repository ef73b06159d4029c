"""kill -9 one of two ``caio router`` processes (on different nodes) under load.

Both routers are real ``caio router --replicas 3`` processes, A on n1 and
B on n2; callers on all three nodes send route requests and submit durable
jobs at a fixed rate. A is SIGKILLed once it is running jobs. What it held
is gone with it (requests in flight time out at their callers: never
acknowledged; its jobs come back to B after the consumer's 2 s ack wait).
Every request sent after the server dropped A's connection must be answered
ok by B, and nothing acknowledged may be lost or seen twice.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from caio_broker.jobs import JobSettings, ensure_job_streams
from caio_integration.client import CAIOClient
from caio_integration.natscluster import NatsCluster
from caio_integration.subjects import Subjects
from tests.cluster.conftest import Connect, SpreadWorkers
from tests.cluster.load import JobLoad, RouteLoad, job_counts, kept, route_counts, wait_for_results
from tests.fakes.router_process import RouterProcess


@pytest.fixture
async def router_processes(
    cluster: NatsCluster, prefix: str, tmp_path: Path, job_streams: None
) -> AsyncIterator[list[RouterProcess]]:
    """Router A on n1 and B on n2, started together (after the job streams)."""
    started: list[RouterProcess] = []
    try:
        for node in (0, 1):
            started.append(
                RouterProcess(
                    cluster.urls[node], prefix, tmp_path / f"router-{node}.log", "--replicas", "3"
                )
            )
        await asyncio.gather(*(r.start() for r in started))
        yield started
    finally:
        await asyncio.gather(*(r.stop() for r in started))


def router_connections(cluster: NatsCluster, node: int) -> int:
    """How many ``caio-router`` clients node ``node`` holds (``/connz``)."""
    _, connz = cluster.node(node).monitor("/connz?limit=1024")
    return sum(1 for c in connz.get("connections") or [] if c.get("name") == "caio-router")


async def until_dropped(cluster: NatsCluster, node: int, timeout_s: float = 10) -> None:
    """Poll until the node no longer lists a router connection: the server sends no
    client-visible event when another client's connection closes."""
    deadline = time.monotonic() + timeout_s
    while await asyncio.to_thread(router_connections, cluster, node):
        assert time.monotonic() < deadline, "the killed router's connection is still listed"
        await asyncio.sleep(0.02)


@dataclass(frozen=True)
class Plan:
    route_rate: float
    job_rate: float
    ok_before: int
    ok_after: int


QUICK = Plan(route_rate=40, job_rate=15, ok_before=40, ok_after=80)
LONG = Plan(route_rate=100, job_rate=40, ok_before=300, ok_after=2000)


@pytest.fixture
async def job_streams(cluster: NatsCluster, connect: Connect, subjects: Subjects) -> None:
    """The job streams and consumer, made before any router with a 2 s ack wait (the
    routers keep an existing consumer as it is), so A's jobs come back quickly."""
    conn = await connect(2)
    await ensure_job_streams(conn.nc.jetstream(), subjects, JobSettings(ack_wait_s=2.0), replicas=3)


async def kill_one_router(
    plan: Plan,
    cluster: NatsCluster,
    subjects: Subjects,
    connect: Connect,
    spread_workers: SpreadWorkers,
    routers: list[RouterProcess],
) -> None:
    started = time.monotonic()
    a, _b = routers
    workers = await spread_workers("echo", [0, 1, 2], [])
    callers = [await connect(node) for node in (0, 1, 2)]
    submitter, observer = await connect(2), await connect(1)
    for worker in workers.instances:  # the routers have subscribed: tell them who is alive
        await worker.beat()

    async with CAIOClient(prefix=subjects.prefix, nc=submitter.nc, timeout_s=10) as caio:
        routes = RouteLoad([c.nc for c in callers], subjects, plan.route_rate)
        jobs = JobLoad(caio, plan.job_rate)
        routes.start()
        jobs.start()
        await routes.until_ok(plan.ok_before, 30)
        # Kill A while it runs jobs: the first result means the routers fetch (5 s warm-up).
        first_job = await caio.wait_result(jobs.sent[0].request_id, timeout_s=30)
        assert first_job["status"] == "ok", first_job
        killed_at = time.monotonic()
        await a.kill()
        await until_dropped(cluster, 0)
        dropped_at = time.monotonic()
        # Requests still in flight now may end ok later: count past them, so that
        # ok_after of the ok replies are to requests sent after the drop.
        pending = sum(1 for s in routes.sent if s.outcome == "pending")
        await routes.until_ok(routes.ok_count + pending + plan.ok_after, 60)
        await routes.stop()
        await jobs.stop()
        await wait_for_results(observer.nc, subjects, jobs.ids("ok"), timeout_s=45)
    found = await kept(observer.nc, subjects)
    routed, queued = route_counts(routes, found), job_counts(jobs, found)
    before = [s for s in routes.sent if s.at < killed_at]
    cut_off = [s for s in before if s.outcome != "ok"]
    after = routes.window(dropped_at, float("inf"))
    in_between = routes.window(killed_at, dropped_at)

    print()
    print(
        f"kill -9 router A (n1) at {killed_at - started:.1f} s; n1 dropped its connection "
        f"{(dropped_at - killed_at) * 1000:.0f} ms later; requests sent before the kill and "
        f"not answered ok: {len(cut_off)} {sorted({s.outcome for s in cut_off})}; sent in "
        f"between: {in_between.sent} ({in_between.outcomes}); sent after: {after.ok}/"
        f"{after.sent} ok ({after.success_rate:.1%})"
    )
    print(routed.line())
    print(queued.line())
    print(f"service calls: {workers.calls}; total {time.monotonic() - started:.1f} s")

    assert after.sent >= plan.ok_after and after.ok == after.sent, after.outcomes
    assert routed.lost == 0 and routed.duplicated_visible == 0, routed
    assert queued.lost == 0 and queued.duplicated_visible == 0, queued
    assert all(
        results[0]["status"] == "ok"
        for rid in jobs.ids("ok")
        for results in [found.results.get(rid, [])]
    )
    assert found.jobs_waiting == 0


async def test_kill_9_one_router_and_the_other_answers_everything_after(
    cluster: NatsCluster,
    subjects: Subjects,
    connect: Connect,
    spread_workers: SpreadWorkers,
    router_processes: list[RouterProcess],
) -> None:
    await kill_one_router(QUICK, cluster, subjects, connect, spread_workers, router_processes)


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_kill_9_one_router_under_more_load_for_longer(
    cluster: NatsCluster,
    subjects: Subjects,
    connect: Connect,
    spread_workers: SpreadWorkers,
    router_processes: list[RouterProcess],
) -> None:
    await kill_one_router(LONG, cluster, subjects, connect, spread_workers, router_processes)
