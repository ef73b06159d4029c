"""Durable jobs survive router crashes: every job gets exactly one result.

Real ``caio router`` processes (two, so one serves while the other comes
back) are SIGKILLed again and again while jobs stream in; an echo service in
this process answers. At the end every request id has exactly one stored
result and an audit record, and no job is left in the work queue.

Jobs a killed router had fetched but not acked come back after the
consumer's ack wait, which the test sets to 2 s by creating the consumer
before any router does (routers use an existing consumer as it is).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
import orjson
import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig

from caio_broker.jobs import JobSettings, ensure_job_streams
from caio_integration.client import CAIOClient
from caio_integration.subjects import Subjects
from tests.integration.conftest import FakeService, contract

CAIO = str(Path(sys.executable).parent / "caio")
ACK_WAIT_S = 2.0


@dataclass
class Plan:
    jobs: int
    rate_per_s: float  # submissions per second, spread over the run
    kill_every_s: float  # one router SIGKILLed (and restarted) this often
    settle_s: float  # after the last submission: time for every result to appear


class Routers:
    """``caio router`` processes that can be killed and restarted."""

    def __init__(self, nats_url: str, prefix: str, logs: Path, count: int) -> None:
        self._argv = [CAIO, "router", "--insecure-no-auth", "--nats-url", nats_url]
        self._argv += ["--prefix", prefix]
        self._logs = logs
        self._procs: list[asyncio.subprocess.Process | None] = [None] * count
        self.kills = 0

    async def start(self, index: int) -> None:
        log = (self._logs / f"router-{index}.log").open("ab")
        self._procs[index] = await asyncio.create_subprocess_exec(
            *self._argv, stdout=log, stderr=log
        )
        log.close()

    async def kill_and_restart(self, index: int) -> None:
        proc = self._procs[index]
        assert proc is not None and proc.returncode is None, "a router died on its own"
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        self.kills += 1
        await self.start(index)

    async def stop_all(self) -> None:
        for proc in self._procs:
            if proc is not None and proc.returncode is None:
                proc.terminate()
        for proc in self._procs:
            if proc is not None:
                try:
                    await asyncio.wait_for(proc.wait(), 15)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()


@pytest.fixture
async def routers(nats_url: str, prefix: str, tmp_path: Path) -> AsyncIterator[Routers]:
    group = Routers(nats_url, prefix, tmp_path, count=2)
    yield group
    await group.stop_all()


async def read_all(js: JetStreamContext, stream: str, subject: str) -> list[dict[str, Any]]:
    """Every message of a stream, through one ephemeral consumer, in batches."""
    total = (await js.stream_info(stream)).state.messages
    sub = await js.pull_subscribe(
        subject, stream=stream, config=ConsumerConfig(ack_policy=AckPolicy.NONE)
    )
    records: list[dict[str, Any]] = []
    try:
        while len(records) < total:
            batch = await sub.fetch(min(1000, total - len(records)), timeout=5)
            records.extend(orjson.loads(m.data) for m in batch)
    finally:
        await sub.unsubscribe()
    return records


class SlowEcho(FakeService):
    """Echoes after 50-300 ms, many at once: a kill always finds jobs mid-run."""

    def __init__(self, nc: NATS, subjects: Subjects) -> None:
        super().__init__(nc, subjects, "echo", ["code_review"])
        self._answering: set[asyncio.Task[None]] = set()

    async def _on_request(self, msg: Msg) -> None:
        self.received.append(orjson.loads(msg.data))
        task = asyncio.create_task(self._answer(msg))
        self._answering.add(task)
        task.add_done_callback(self._answering.discard)

    async def _answer(self, msg: Msg) -> None:
        await asyncio.sleep(random.uniform(0.05, 0.3))
        body = orjson.loads(msg.data)
        reply = {"status": "ok", "result": {"echo": body.get("context")}}
        with contextlib.suppress(Exception):  # the router was killed meanwhile
            await msg.respond(orjson.dumps(reply))


async def heartbeat(service: FakeService) -> None:
    while True:
        await service.beat()
        await asyncio.sleep(1.0)


async def register_when_a_router_answers(nc: NATS, subjects: Subjects) -> None:
    body = orjson.dumps({"contract": contract("echo", ["code_review"])})
    deadline = time.monotonic() + 30
    while True:
        try:
            msg = await nc.request(subjects.registry("register"), body, timeout=2)
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)
            continue
        assert orjson.loads(msg.data)["status"] == "registered"
        return


async def run_plan(
    plan: Plan, nats_url: str, prefix: str, routers: Routers
) -> tuple[float, int, int]:
    """Run the plan and check the outcome; returns (seconds, kills, service calls)."""
    started = time.monotonic()
    subjects = Subjects(prefix)
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    # The consumer is made here first, with a short ack wait: the routers keep it.
    await ensure_job_streams(js, subjects, JobSettings(ack_wait_s=ACK_WAIT_S))
    await routers.start(0)
    await routers.start(1)
    service = await SlowEcho(nc, subjects).start()
    beating = asyncio.create_task(heartbeat(service))
    await register_when_a_router_answers(nc, subjects)

    ids = [f"job-{i:05d}" for i in range(plan.jobs)]
    try:
        async with CAIOClient(nats_url, prefix=prefix) as caio:

            async def submit() -> None:
                step = 0.1
                per_step = max(1, round(plan.rate_per_s * step))
                for first in range(0, len(ids), per_step):
                    chunk = ids[first : first + per_step]
                    await asyncio.gather(
                        *(caio.submit_job("code_review", {"n": i}, request_id=i) for i in chunk)
                    )
                    await asyncio.sleep(step)

            async def kill() -> None:
                victim = 0
                while True:
                    await asyncio.sleep(plan.kill_every_s)
                    await routers.kill_and_restart(victim)
                    victim = 1 - victim

            killer = asyncio.create_task(kill())
            await submit()
            killer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await killer

            deadline = time.monotonic() + plan.settle_s
            while time.monotonic() < deadline:
                results = (await js.stream_info(subjects.results_stream)).state
                jobs = (await js.stream_info(subjects.jobs_stream)).state
                if results.messages >= plan.jobs and jobs.messages == 0:
                    break
                await asyncio.sleep(0.5)

        results = (await js.stream_info(subjects.results_stream)).state
        assert results.messages == plan.jobs, f"{results.messages} of {plan.jobs} results"
        assert results.last_seq == plan.jobs  # no second result was ever stored
        stored = await read_all(js, subjects.results_stream, subjects.results_all)
        assert sorted(r["request_id"] for r in stored) == ids
        failed = [r for r in stored if r["status"] != "ok"]
        assert not failed, failed[:3]
        assert (await js.stream_info(subjects.jobs_stream)).state.messages == 0
        audited = await read_all(js, subjects.audit_stream, subjects.audit_all)
        assert set(ids) <= {r["request_id"] for r in audited}
    finally:
        beating.cancel()
        await nc.drain()
    return time.monotonic() - started, routers.kills, len(service.received)


async def test_jobs_survive_killed_routers(nats_url: str, prefix: str, routers: Routers) -> None:
    plan = Plan(jobs=1_000, rate_per_s=50, kill_every_s=4.0, settle_s=30)
    seconds, kills, calls = await run_plan(plan, nats_url, prefix, routers)
    print(f"\n{plan.jobs} jobs, {kills} SIGKILLs, {calls} service calls, {seconds:.1f} s")
    assert kills >= 3


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_ten_thousand_jobs_survive_killed_routers(
    nats_url: str, prefix: str, routers: Routers
) -> None:
    plan = Plan(jobs=10_000, rate_per_s=250, kill_every_s=4.0, settle_s=60)
    seconds, kills, calls = await run_plan(plan, nats_url, prefix, routers)
    print(f"\n{plan.jobs} jobs, {kills} SIGKILLs, {calls} service calls, {seconds:.1f} s")
    assert kills >= 8
