"""Crashes below the router: a worker process killed mid-request, and the NATS
server itself restarted under load (file storage). Bounded in time and count."""

from __future__ import annotations

import asyncio
import signal
import sys
import textwrap
import uuid
from pathlib import Path

import nats
import orjson
from nats.aio.client import Client as NATS
from nats.errors import TimeoutError as NatsTimeoutError

from caio_broker.router import AuthSettings, Router, RouterConfig
from caio_integration.client import CAIOClient
from caio_integration.natsserver import NatsServer
from caio_integration.subjects import Subjects
from tests.fakes.router_process import RouterProcess
from tests.integration.conftest import FakeService, audit_records, contract, request

# A worker as its own process: it answers nothing, says when a request arrived,
# then waits to be killed. Mid-request is then an event, not a guess.
HANGING_WORKER = textwrap.dedent(
    """
    import asyncio, sys, time, orjson, nats

    async def main(url, prefix):
        nc = await nats.connect(url)
        async def on_request(msg):
            print("got request", flush=True)
        await nc.subscribe(f"{prefix}.svc.fragile.code_review", queue="fragile", cb=on_request)
        await nc.flush(); await nc.flush()
        beat = {"service_id": "fragile", "instance_id": "p1", "ts": time.time()}
        await nc.publish(f"{prefix}.heartbeat.fragile", orjson.dumps(beat))
        await nc.flush()
        print("ready", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main(sys.argv[1], sys.argv[2]))
    """
)


async def test_a_worker_killed_mid_request_is_answered_by_another_service(
    nats_url: str, prefix: str, nc: NATS, subjects: Subjects, tmp_path: Path
) -> None:
    router = Router(
        RouterConfig(nats_url=nats_url, prefix=prefix, auth=AuthSettings(required=False))
    )
    await router.start()
    script = tmp_path / "hanging_worker.py"
    script.write_text(HANGING_WORKER)
    worker = await asyncio.create_subprocess_exec(
        sys.executable, str(script), nats_url, prefix, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert worker.stdout is not None
        await request(
            nc,
            subjects.registry("register"),
            {"contract": contract("fragile", accuracy=0.99, p95_ms=300)},
        )
        await request(
            nc, subjects.registry("register"), {"contract": contract("backup", accuracy=0.5)}
        )
        backup = await FakeService(nc, subjects, "backup", ["code_review"]).start()
        await backup.beat()
        assert (await asyncio.wait_for(worker.stdout.readline(), 20)).strip() == b"ready"
        assert await router.liveness.wait_available("fragile", timeout_s=5)
        assert await router.liveness.wait_available("backup", timeout_s=5)

        call = asyncio.create_task(
            request(nc, subjects.route("code_review"), {"context": {}, "timeout_ms": 10_000})
        )
        assert (await asyncio.wait_for(worker.stdout.readline(), 10)).strip() == b"got request"
        worker.send_signal(signal.SIGKILL)
        await worker.wait()
        reply = await asyncio.wait_for(call, 15)
    finally:
        if worker.returncode is None:
            worker.kill()
            await worker.wait()
        await router.stop()

    assert reply["status"] == "ok"
    assert reply["service_id"] == "backup"
    assert [(a["service_id"], a["status"]) for a in reply["attempts"]] == [
        ("fragile", "timeout"),
        ("backup", "ok"),
    ]


async def test_nats_killed_and_restarted_under_load_loses_no_acknowledged_job(
    nats_server_factory: object, prefix: str
) -> None:
    server: NatsServer = nats_server_factory()  # type: ignore[operator]
    subjects = Subjects(prefix)
    router = Router(
        RouterConfig(nats_url=server.url, prefix=prefix, auth=AuthSettings(required=False))
    )
    await router.start()
    reconnected = asyncio.Event()

    async def on_reconnect() -> None:
        reconnected.set()

    nc = await nats.connect(
        server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.1, reconnected_cb=on_reconnect
    )
    service = await FakeService(nc, subjects, "echo", ["code_review"]).start()
    acknowledged: list[str] = []
    try:
        await request(nc, subjects.registry("register"), {"contract": contract("echo")})
        await service.beat()
        assert await router.liveness.wait_available("echo", timeout_s=5)
        async with CAIOClient(server.url, prefix=prefix, nc=nc) as caio:
            stop = asyncio.Event()
            enough_before_crash = asyncio.Event()
            enough_after_restart = asyncio.Event()
            goal_after_restart = [2**31]  # set once the server is back

            async def submit_continuously() -> None:
                i = 0
                while not stop.is_set() and i < 2000:
                    i += 1
                    try:
                        acknowledged.append(
                            await caio.submit_job("code_review", {"i": i}, request_id=f"job-{i}")
                        )
                    except Exception:  # not acknowledged (server down): not promised
                        await asyncio.sleep(0.05)
                    if len(acknowledged) >= 100:
                        enough_before_crash.set()
                    if len(acknowledged) >= goal_after_restart[0]:
                        enough_after_restart.set()

            submitter = asyncio.create_task(submit_continuously())
            await asyncio.wait_for(enough_before_crash.wait(), 30)
            server.kill()  # SIGKILL mid-traffic, then the same port and store again
            server.start()
            await asyncio.wait_for(reconnected.wait(), 20)
            await service.beat()
            goal_after_restart[0] = len(acknowledged) + 100  # load after the restart too
            await asyncio.wait_for(enough_after_restart.wait(), 30)
            stop.set()
            await submitter
            results = [await caio.wait_result(rid, timeout_s=60) for rid in acknowledged]
    finally:
        await router.stop()
        await nc.drain()

    assert len(acknowledged) >= 200
    assert {r["request_id"] for r in results} == set(acknowledged)
    assert all(r["status"] == "ok" for r in results), [r for r in results if r["status"] != "ok"][
        :2
    ]


async def test_a_router_killed_mid_request_never_left_an_answer_without_its_audit_record(
    nats_url: str, prefix: str, nc: NATS, subjects: Subjects, tmp_path: Path
) -> None:
    """kill -9 of a router under load, at whatever step each request is: forwarded,
    answered by the service, its record on the way to JetStream, or its reply. Every
    ok answer a caller got must have its ok record in the audit stream; a router that
    replied before the record's ack would leave answers without one."""
    router = await RouterProcess(nats_url, prefix, tmp_path / "router.log").start()
    outcomes: dict[str, str] = {}
    try:
        await request(nc, subjects.registry("register"), {"contract": contract("svc")})
        service = await FakeService(nc, subjects, "svc", ["code_review"]).start()
        await service.beat()
        load = KillLoad(nc, subjects.route("code_review"), outcomes)
        await load.until_routable()
        senders = [asyncio.create_task(load.keep_sending()) for _ in range(KILL_LOAD_IN_FLIGHT)]
        await asyncio.wait_for(load.enough_ok.wait(), 30)
        await router.kill()
        load.stop.set()
        await asyncio.gather(*senders)
    finally:
        await router.stop()

    audited = {r["request_id"] for r in await audit_records(nc, subjects) if r["outcome"] == "ok"}
    answered_ok = {rid for rid, outcome in outcomes.items() if outcome == "ok"}
    in_flight_at_kill = [rid for rid, outcome in outcomes.items() if outcome == "no answer"]
    assert len(answered_ok) >= KILL_AFTER_OK
    assert in_flight_at_kill, "the kill found no request in flight: it proves nothing"
    assert answered_ok <= audited, f"answered without a record: {answered_ok - audited}"


KILL_LOAD_IN_FLIGHT = 64
KILL_AFTER_OK = 300


class KillLoad:
    """Route requests from many senders at once, each with its own id, until ``stop``."""

    def __init__(self, nc: NATS, subject: str, outcomes: dict[str, str]) -> None:
        self.nc = nc
        self.subject = subject
        self.outcomes = outcomes
        self.ok = 0
        self.enough_ok = asyncio.Event()
        self.stop = asyncio.Event()

    async def send(self, timeout_s: float) -> str:
        request_id = uuid.uuid4().hex
        body = orjson.dumps({"context": {}, "request_id": request_id})
        try:
            reply = orjson.loads((await self.nc.request(self.subject, body, timeout_s)).data)
            outcome = "ok" if reply["status"] == "ok" else reply["error"]["code"]
        except NatsTimeoutError:
            outcome = "no answer"
        self.outcomes[request_id] = outcome
        return outcome

    async def until_routable(self, attempts: int = 50) -> None:
        """The router has the service once a route is ok (its heartbeat and the
        registration reach it on other subscriptions, in no set order)."""
        for _ in range(attempts):
            if await self.send(5) == "ok":
                return
            await asyncio.sleep(0.05)  # a bounded poll: no event crosses into the process
        raise AssertionError("the router never routed to the service")

    async def keep_sending(self) -> None:
        while not self.stop.is_set():
            if await self.send(2) == "ok":
                self.ok += 1
                if self.ok >= KILL_AFTER_OK:
                    self.enough_ok.set()
