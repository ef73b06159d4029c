"""A bridge worker announces itself, shares load, is a micro service, and leaves gracefully."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from datetime import datetime

import nats.errors
import orjson
import pytest
from nats.aio.client import Client as NATS

from caio_integration.bridge import WorkerConfig
from caio_integration.subjects import Subjects
from tests.fakes.scripted_worker import ScriptedWorker, scripted_contract
from tests.fakes.wire import ask, service_request


async def _next_json(sub, timeout: float = 10.0) -> dict:
    return orjson.loads((await sub.next_msg(timeout=timeout)).data)


async def test_a_heartbeat_arrives_when_the_worker_starts_and_then_periodically(
    nc: NATS, subjects: Subjects, service_id: str, start_worker
) -> None:
    sub = await nc.subscribe(subjects.heartbeat(service_id))
    await nc.flush()

    worker = await start_worker(heartbeat_interval_s=0.05)
    first = await _next_json(sub)
    second = await _next_json(sub)
    await sub.unsubscribe()  # beats keep coming; a drained client would wait for them

    assert set(first) == {"service_id", "instance_id", "ts", "interval_s"}
    assert first["service_id"] == service_id
    assert first["instance_id"] == worker.instance_id
    assert first["interval_s"] == 0.05
    assert abs(datetime.fromisoformat(first["ts"]).timestamp() - time.time()) < 5
    assert datetime.fromisoformat(second["ts"]) > datetime.fromisoformat(first["ts"])


async def test_the_first_heartbeat_comes_only_once_requests_can_be_served(
    nc: NATS, subjects: Subjects, service_id: str, start_worker
) -> None:
    async def on_beat(msg) -> None:
        # The router forwards as soon as it hears a worker: that must work.
        replies.append(await ask(nc, subjects.service(service_id, "echo"), service_request("echo")))
        served.set()

    replies: list[dict] = []
    served = asyncio.Event()
    await nc.subscribe(subjects.heartbeat(service_id), cb=on_beat, max_msgs=1)
    await nc.flush()

    await start_worker()
    await served.wait()

    assert replies[0]["status"] == "ok"


async def test_stop_sends_a_last_heartbeat_marked_stopping(
    nc: NATS, subjects: Subjects, service_id: str, worker_config
) -> None:
    sub = await nc.subscribe(subjects.heartbeat(service_id))
    await nc.flush()
    worker = ScriptedWorker(scripted_contract(service_id), worker_config())
    await worker.start()
    hello = await _next_json(sub)

    await worker.stop()
    goodbye = await _next_json(sub)

    assert "stopping" not in hello
    assert goodbye["stopping"] is True
    assert goodbye["instance_id"] == worker.instance_id
    assert datetime.fromisoformat(goodbye["ts"]) >= datetime.fromisoformat(hello["ts"])


async def test_instance_ids_are_unique_and_derived_from_the_service_id(
    service_id: str, worker_config
) -> None:
    contract = scripted_contract(service_id)
    first = ScriptedWorker(contract, worker_config())
    second = ScriptedWorker(contract, worker_config())
    named = ScriptedWorker(contract, worker_config(instance_id="box-7"))

    assert first.instance_id.startswith(f"{service_id}-")
    assert first.instance_id != second.instance_id
    assert named.instance_id == "box-7"


async def test_two_instances_in_the_queue_group_share_requests_and_each_is_served_once(
    nc: NATS, subjects: Subjects, service_id: str, start_worker
) -> None:
    one = await start_worker()
    two = await start_worker()
    subject = subjects.service(service_id, "echo")

    replies = await asyncio.gather(*(ask(nc, subject, service_request("echo")) for _ in range(40)))

    served_by = {reply["result"]["instance_id"] for reply in replies}
    assert served_by == {one.instance_id, two.instance_id}
    assert len(one.calls) + len(two.calls) == 40
    assert len(one.calls) > 0
    assert len(two.calls) > 0


async def test_the_worker_is_a_nats_micro_service_with_an_endpoint_per_capability(
    nc: NATS, subjects: Subjects, service_id: str, start_worker
) -> None:
    worker = await start_worker()

    ping = orjson.loads((await nc.request(f"$SRV.PING.{service_id}", b"", timeout=5)).data)
    info = orjson.loads((await nc.request(f"$SRV.INFO.{service_id}", b"", timeout=5)).data)

    assert ping["name"] == service_id
    assert ping["version"] == "1.2.3"
    assert ping["metadata"]["instance_id"] == worker.instance_id
    endpoints = {e["name"]: e for e in info["endpoints"]}
    assert set(endpoints) == {"echo", "gated", "crash", "not_built"}
    assert endpoints["echo"]["subject"] == subjects.service(service_id, "echo")
    assert {e["queue_group"] for e in endpoints.values()} == {service_id}
    assert endpoints["not_built"]["metadata"] == {"implemented": "false", "max_payload": "1MB"}


async def test_micro_stats_count_requests_and_the_worker_adds_outcomes(
    nc: NATS, subjects: Subjects, service_id: str, start_worker
) -> None:
    await start_worker()
    for _ in range(2):
        await ask(nc, subjects.service(service_id, "echo"), service_request("echo"))
    await ask(nc, subjects.service(service_id, "not_built"), service_request("not_built"))

    stats = orjson.loads((await nc.request(f"$SRV.STATS.{service_id}", b"", timeout=5)).data)

    endpoints = {e["name"]: e for e in stats["endpoints"]}
    assert endpoints["echo"]["num_requests"] == 2
    assert endpoints["echo"]["data"] == {"ok": 2, "errors": 0, "in_flight": 0}
    assert endpoints["not_built"]["num_requests"] == 1
    assert endpoints["not_built"]["data"]["errors"] == 1


async def test_a_contract_version_that_is_not_semver_is_published_as_0_0_0(
    nc: NATS, service_id: str, start_worker
) -> None:
    worker = await start_worker(contract=scripted_contract(service_id, version="v2"))

    ping = orjson.loads((await nc.request(f"$SRV.PING.{service_id}", b"", timeout=5)).data)

    assert ping["version"] == "0.0.0"
    assert ping["metadata"]["contract_version"] == "v2"
    assert worker.running


async def test_stop_lets_an_in_flight_request_finish_before_closing(
    nc: NATS, subjects: Subjects, service_id: str, worker_config
) -> None:
    beats = await nc.subscribe(subjects.heartbeat(service_id))
    worker = ScriptedWorker(scripted_contract(service_id), worker_config(drain_timeout_s=30))
    await worker.start()
    await _next_json(beats)
    pending = asyncio.create_task(
        ask(nc, subjects.service(service_id, "gated"), service_request("gated"))
    )
    await worker.entered.wait()

    stopping = asyncio.create_task(worker.stop())
    goodbye = await _next_json(beats)
    assert goodbye["stopping"] is True
    assert not stopping.done(), "stop() must wait for the in-flight request"
    worker.gate.set()
    reply = await pending
    await stopping

    assert reply["result"] == {"gated": "released"}
    assert not worker.running
    with pytest.raises(nats.errors.NoRespondersError):
        await nc.request(subjects.service(service_id, "echo"), b"{}", timeout=5)


async def test_requests_still_running_at_the_drain_timeout_are_told_the_worker_stopped(
    nc: NATS, subjects: Subjects, service_id: str, worker_config
) -> None:
    worker = ScriptedWorker(scripted_contract(service_id), worker_config(drain_timeout_s=0.2))
    await worker.start()
    body = service_request("gated")
    pending = asyncio.create_task(ask(nc, subjects.service(service_id, "gated"), body))
    await worker.entered.wait()

    await worker.stop()
    reply = await pending

    assert reply["error"]["code"] == "service_unavailable"
    assert reply["error"]["details"]["reason"] == "worker_stopping"
    assert reply["error"]["retryable"] is True
    assert reply["request_id"] == body["request_id"]
    assert worker.cancelled.is_set()


async def test_the_async_context_manager_starts_and_stops_the_worker(
    nc: NATS, subjects: Subjects, service_id: str, worker_config
) -> None:
    async with ScriptedWorker(scripted_contract(service_id), worker_config()) as worker:
        reply = await ask(nc, subjects.service(service_id, "echo"), service_request("echo"))
        assert worker.running

    assert reply["status"] == "ok"
    assert not worker.running
    with pytest.raises(RuntimeError, match="already started"):
        await worker.start()


async def test_run_serves_until_sigterm_then_stops_gracefully(
    nc: NATS, subjects: Subjects, service_id: str, worker_config
) -> None:
    beats = await nc.subscribe(subjects.heartbeat(service_id))
    worker = ScriptedWorker(scripted_contract(service_id), worker_config())
    running = asyncio.create_task(worker.run())
    await _next_json(beats)
    # run() installed its handler; without it SIGTERM would end the test process.
    assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL

    os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.wait_for(running, timeout=10)

    assert (await _next_json(beats))["stopping"] is True
    assert not worker.running


async def test_stop_before_start_and_stop_twice_are_harmless(
    nc: NATS, subjects: Subjects, service_id: str, worker_config
) -> None:
    never_started = ScriptedWorker(scripted_contract(service_id), worker_config())
    await never_started.stop()
    worker = ScriptedWorker(scripted_contract(service_id), worker_config())
    await worker.start()

    await asyncio.gather(worker.stop(), worker.stop())

    assert not never_started.running
    assert not worker.running


def test_a_worker_must_implement_at_least_one_capability_of_its_contract(
    worker_config,
) -> None:
    from caio_integration.contracts.model import ServiceContract

    contract = ServiceContract.model_validate(
        {"id": "other", "name": "Other", "version": "1.0.0", "capabilities": [{"type": "tts"}]}
    )

    with pytest.raises(ValueError, match="none of contract 'other'"):
        ScriptedWorker(contract, worker_config())


@pytest.mark.parametrize(
    ("overrides", "complaint"),
    [
        ({"prefix": "bad prefix"}, "unsafe subject prefix"),
        ({"heartbeat_interval_s": 0}, "heartbeat_interval_s"),
        ({"max_payload_bytes": 0}, "max_payload_bytes"),
        ({"drain_timeout_s": -1}, "drain_timeout_s"),
        ({"max_concurrency": 0}, "max_concurrency"),
    ],
)
def test_a_config_with_impossible_values_is_refused(overrides: dict, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        WorkerConfig(**overrides)


def test_config_from_env_reads_the_protocol_variables() -> None:
    config = WorkerConfig.from_env(
        {"CAIO_NATS_URL": "nats://nats.example:4222", "CAIO_PREFIX": "lab"},
        drain_timeout_s=3.0,
    )

    assert config.nats_url == "nats://nats.example:4222"
    assert config.prefix == "lab"
    assert config.drain_timeout_s == 3.0
