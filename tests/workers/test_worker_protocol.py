"""A bridge worker answers every request on its service subjects, as PROTOCOL.md says.

Driven through a bare nats-py client against the real nats-server, with the
``ScriptedWorker`` from tests/fakes whose handler the test controls.
"""

from __future__ import annotations

import asyncio
import time

import orjson
from nats.aio.client import Client as NATS

from caio_integration.subjects import Subjects
from caio_integration.wire import now_ms
from tests.fakes.wire import ask, service_request


async def test_a_request_is_answered_with_result_and_usage(
    nc: NATS, subjects: Subjects, service_id: str, start_worker
) -> None:
    worker = await start_worker()
    body = service_request("echo", {"prompt": "hi"})

    reply = await ask(nc, subjects.service(service_id, "echo"), body)

    assert reply == {
        "status": "ok",
        "request_id": body["request_id"],
        "result": {"context": {"prompt": "hi"}, "instance_id": worker.instance_id},
        "usage": {"units": 1},
    }


async def test_a_body_that_is_not_json_gets_invalid_request_and_the_worker_keeps_serving(
    nc: NATS, subjects: Subjects, service_id: str, start_worker
) -> None:
    await start_worker()
    subject = subjects.service(service_id, "echo")

    reply = await ask(nc, subject, b"{not json")

    assert reply["status"] == "error"
    assert reply["error"]["code"] == "invalid_request"
    assert "not valid JSON" in reply["error"]["message"]
    assert (await ask(nc, subject, service_request("echo")))["status"] == "ok"


async def test_a_json_array_is_not_an_object(
    nc: NATS, subjects: Subjects, service_id: str, start_worker
) -> None:
    await start_worker()
    subject = subjects.service(service_id, "echo")

    reply = await ask(nc, subject, b"[1, 2]")

    assert reply["error"]["code"] == "invalid_request"
    assert "JSON object" in reply["error"]["message"]
    assert (await ask(nc, subject, service_request("echo")))["status"] == "ok"


async def test_a_body_over_the_size_limit_gets_payload_too_large_without_being_parsed(
    nc: NATS, subjects: Subjects, service_id: str, start_worker
) -> None:
    worker = await start_worker(max_payload_bytes=1024)
    subject = subjects.service(service_id, "echo")

    reply = await ask(nc, subject, service_request("echo", {"blob": "x" * 2048}))

    assert reply["error"]["code"] == "payload_too_large"
    assert reply["error"]["details"]["limit"] == 1024
    assert worker.calls == []
    assert (await ask(nc, subject, service_request("echo")))["status"] == "ok"


async def test_a_body_that_breaks_the_protocol_is_rejected_with_its_request_id(
    nc: NATS, subjects: Subjects, service_id: str, start_worker
) -> None:
    worker = await start_worker()
    body = service_request("echo", deadline_ms="soon")

    reply = await ask(nc, subjects.service(service_id, "echo"), body)

    assert reply["error"]["code"] == "invalid_request"
    assert reply["request_id"] == body["request_id"]
    assert any(line.startswith("deadline_ms") for line in reply["error"]["details"]["errors"])
    assert worker.calls == []


async def test_a_body_naming_another_capability_than_its_subject_is_rejected(
    nc: NATS, subjects: Subjects, service_id: str, start_worker
) -> None:
    worker = await start_worker()

    reply = await ask(nc, subjects.service(service_id, "echo"), service_request("gated"))

    assert reply["error"]["code"] == "invalid_request"
    assert reply["error"]["details"] == {"capability": "gated", "subject_capability": "echo"}
    assert worker.calls == []


async def test_a_request_whose_deadline_has_passed_gets_timeout_and_no_work_is_done(
    nc: NATS, subjects: Subjects, service_id: str, start_worker
) -> None:
    worker = await start_worker()
    body = service_request("echo", deadline_ms=now_ms() - 1_000)

    reply = await ask(nc, subjects.service(service_id, "echo"), body)

    assert reply["error"]["code"] == "timeout"
    assert reply["error"]["details"]["reason"] == "deadline_passed"
    assert reply["request_id"] == body["request_id"]
    assert worker.calls == []


async def test_work_still_running_at_the_deadline_is_stopped_and_answered_with_timeout(
    nc: NATS, subjects: Subjects, service_id: str, start_worker
) -> None:
    worker = await start_worker()
    body = service_request("gated", deadline_ms=now_ms() + 300)

    started = time.monotonic()
    reply = await ask(nc, subjects.service(service_id, "gated"), body)

    assert reply["error"]["code"] == "timeout"
    assert reply["error"]["retryable"] is True
    assert reply["error"]["details"]["reason"] == "deadline_exceeded"
    assert worker.cancelled.is_set(), "the handler should have been cancelled"
    assert time.monotonic() - started < 5


async def test_a_capability_the_contract_lists_but_the_worker_lacks_is_not_implemented(
    nc: NATS, subjects: Subjects, service_id: str, start_worker
) -> None:
    await start_worker()

    reply = await ask(nc, subjects.service(service_id, "not_built"), service_request("not_built"))

    assert reply["error"]["code"] == "service_error"
    assert reply["error"]["details"] == {
        "reason": "capability_not_implemented",
        "capability": "not_built",
    }
    assert "retryable" not in reply["error"]


async def test_an_unexpected_exception_becomes_service_error_without_its_text(
    nc: NATS, subjects: Subjects, service_id: str, start_worker
) -> None:
    await start_worker()
    subject = subjects.service(service_id, "crash")

    raw = (await nc.request(subject, orjson.dumps(service_request("crash")), timeout=10)).data
    reply = orjson.loads(raw)

    assert reply["error"]["code"] == "service_error"
    assert reply["error"]["details"]["reason"] == "unexpected_error"
    assert "RuntimeError" in reply["error"]["message"]
    assert b"sk-do-not-leak" not in raw
    echo = await ask(nc, subjects.service(service_id, "echo"), service_request("echo"))
    assert echo["status"] == "ok"


async def test_requests_on_one_capability_run_concurrently(
    nc: NATS, subjects: Subjects, service_id: str, start_worker
) -> None:
    worker = await start_worker()
    subject = subjects.service(service_id, "gated")
    first = asyncio.create_task(ask(nc, subject, service_request("gated")))
    await worker.entered.wait()
    worker.entered.clear()

    second = asyncio.create_task(ask(nc, subject, service_request("gated")))
    # Would hang if the worker served one request of a subject at a time.
    await asyncio.wait_for(worker.entered.wait(), timeout=5)

    assert not first.done()
    worker.gate.set()
    assert (await first)["result"] == {"gated": "released"}
    assert (await second)["result"] == {"gated": "released"}
