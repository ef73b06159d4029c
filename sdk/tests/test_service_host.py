"""A hosted service answers on its subjects as docs/protocol.md says, against a real nats-server.

Driven through a plain NATS connection (no router) with services whose
behaviour each test controls.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from datetime import datetime, timedelta
from typing import Any

import pytest
from nats.aio.client import Client as NATS

from caio_integration import (
    AIUCPService,
    HostConfig,
    ServiceContract,
    ServiceHost,
    WorkResult,
    serve,
)
from caio_integration.errors import RateLimited, ServiceUnavailable
from caio_integration.service import current_context
from caio_integration.subjects import Subjects
from caio_integration.testing import ask_service, new_prefix
from caio_integration.wire import now_ms

SCHEMA = {"type": "object", "required": ["answer"], "properties": {"answer": {"type": "integer"}}}


def contract(service_id: str, **capability: Any) -> ServiceContract:
    return ServiceContract.model_validate(
        {
            "id": service_id,
            "name": "Scripted",
            "version": "2.1.0",
            "capabilities": [{"type": "answer", "output_schema": SCHEMA, **capability}],
        }
    )


class Scripted(AIUCPService):
    """Answers ``context.answer``; ``context.do`` picks another behaviour."""

    def __init__(self, service_id: str) -> None:
        self.contract = contract(service_id)
        self.health: dict[str, Any] = {"status": "healthy"}
        self.seen: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
        self.current: list[Any] = []
        self.lifecycle: list[str] = []

    async def setup(self) -> None:
        self.lifecycle.append("setup")

    async def teardown(self) -> None:
        self.lifecycle.append("teardown")

    def get_health_status(self) -> dict[str, Any]:
        return self.health

    async def execute(self, request: dict[str, Any], context: dict[str, Any] | None = None) -> Any:
        self.seen.append((request, context))
        self.current.append(current_context())
        do = request.get("do")
        if do == "rate_limited":
            raise RateLimited("slow down\r\nInjected: header", details={"reason": "upstream"})
        if do == "crash":
            raise RuntimeError("boom: sk-secret")
        if do == "hang":
            await asyncio.Event().wait()
        if do == "list":
            return [1, 2]
        if do == "opaque":
            return {"answer": 1, 2: "sk-secret"}
        return WorkResult({"answer": request.get("answer", 42)}, {"units": 1})


@pytest.fixture
def service_id(caio_prefix: str) -> str:
    # Micro service names ($SRV.*.<name>) span prefixes: one per test.
    return f"s-{caio_prefix}"


@pytest.fixture
async def scripted(caio_host: Any, service_id: str) -> Scripted:
    service = Scripted(service_id)
    await caio_host(service, heartbeat_interval_s=0.05)
    return service


async def ask(nc: NATS, prefix: str, service_id: str, context: dict[str, Any], **fields: Any):
    return await ask_service(nc, service_id, "answer", context, prefix=prefix, **fields)


async def test_execute_gets_the_callers_context_and_the_request_and_its_result_is_the_reply(
    caio_nc: NATS, caio_prefix: str, service_id: str, scripted: Scripted
) -> None:
    deadline = now_ms() + 30_000

    answer = await ask(caio_nc, caio_prefix, service_id, {"answer": 7}, deadline_ms=deadline)

    assert answer.body == {
        "status": "ok",
        "request_id": answer.body["request_id"],
        "result": {"answer": 7},
        "usage": {"units": 1},
    }
    assert answer.headers == {}
    request, context = scripted.seen[0]
    assert request == {"answer": 7}
    assert context == {
        "capability": "answer",
        "request_id": answer.body["request_id"],
        "caller": "tests",
        "deadline_ms": deadline,
        "trace_id": None,  # the caller sent no traceparent
    }
    assert scripted.current[0] == context


async def test_a_caio_error_is_the_reply_and_its_code_travels_in_the_micro_error_headers(
    caio_nc: NATS, caio_prefix: str, service_id: str, scripted: Scripted
) -> None:
    answer = await ask(caio_nc, caio_prefix, service_id, {"do": "rate_limited"})

    assert answer.error["code"] == "rate_limited"
    assert answer.error["retryable"] is True
    assert answer.headers["Nats-Service-Error-Code"] == "429"
    assert answer.headers["Nats-Service-Error"] == "slow down Injected: header"
    assert "Injected" not in answer.headers


async def test_an_unexpected_exception_is_a_500_service_error_without_its_text(
    caio_nc: NATS, caio_prefix: str, service_id: str, scripted: Scripted
) -> None:
    answer = await ask(caio_nc, caio_prefix, service_id, {"do": "crash"})

    assert answer.error["code"] == "service_error"
    assert answer.error["details"] == {"reason": "unexpected_error"}
    assert answer.headers["Nats-Service-Error-Code"] == "500"
    assert "sk-secret" not in json.dumps(answer.body) + json.dumps(answer.headers)


async def test_a_result_that_breaks_the_output_schema_is_a_guarantee_violation(
    caio_nc: NATS, caio_prefix: str, service_id: str, scripted: Scripted
) -> None:
    answer = await ask(caio_nc, caio_prefix, service_id, {"answer": "forty-two"})

    assert answer.error["code"] == "service_error"
    assert "retryable" not in answer.error
    details = answer.error["details"]
    assert details["reason"] == "guarantee_violated"
    assert details["capability"] == "answer"
    assert details["checks"][0]["guarantee"] == "output_schema"
    assert "result.answer" in answer.error["message"]
    assert answer.headers["Nats-Service-Error-Code"] == "500"


async def test_a_result_that_is_not_an_object_is_an_invalid_result(
    caio_nc: NATS, caio_prefix: str, service_id: str, scripted: Scripted
) -> None:
    answer = await ask(caio_nc, caio_prefix, service_id, {"do": "list"})

    assert answer.error["code"] == "service_error"
    assert answer.error["details"] == {"reason": "invalid_result"}


async def test_a_result_json_cannot_carry_is_an_unserializable_result_that_quotes_nothing(
    caio_nc: NATS, caio_prefix: str, service_id: str, scripted: Scripted
) -> None:
    answer = await ask(caio_nc, caio_prefix, service_id, {"do": "opaque"})

    assert answer.error["code"] == "service_error"
    assert answer.error["details"] == {"reason": "unserializable_result"}
    assert "result.2" in answer.error["message"]
    assert "sk-secret" not in json.dumps(answer.body)


async def test_work_past_its_deadline_is_cancelled_and_answered_504(
    caio_nc: NATS, caio_prefix: str, service_id: str, scripted: Scripted
) -> None:
    answer = await ask(caio_nc, caio_prefix, service_id, {"do": "hang"}, deadline_ms=now_ms() + 300)

    assert answer.error["code"] == "timeout"
    assert answer.error["details"]["reason"] == "deadline_exceeded"
    assert answer.headers["Nats-Service-Error-Code"] == "504"


async def test_a_body_that_is_not_json_is_answered_400(
    caio_nc: NATS, caio_prefix: str, service_id: str, scripted: Scripted
) -> None:
    subject = Subjects(caio_prefix).service(service_id, "answer")

    msg = await caio_nc.request(subject, b"{nope", timeout=10)

    assert json.loads(msg.data)["error"]["code"] == "invalid_request"
    assert msg.headers is not None
    assert msg.headers["Nats-Service-Error-Code"] == "400"
    assert scripted.seen == []


async def test_the_micro_service_shows_the_instance_contract_capabilities_and_prefix(
    caio_nc: NATS, caio_prefix: str, service_id: str, caio_host: Any
) -> None:
    host = await caio_host(Scripted(service_id))

    info = json.loads((await caio_nc.request(f"$SRV.INFO.{service_id}", b"", timeout=5)).data)

    assert info["name"] == service_id
    assert info["version"] == "2.1.0"
    assert info["metadata"] == {
        "service_id": service_id,
        "instance_id": host.instance_id,
        "contract_version": "2.1.0",
        "capabilities": "answer",
        "prefix": caio_prefix,
        "implementation": "Scripted",
        "protocol_version": "1",
    }
    (endpoint,) = info["endpoints"]
    assert endpoint["subject"] == f"{caio_prefix}.svc.{service_id}.answer"
    assert endpoint["queue_group"] == service_id
    # The Synadia Agent Protocol draft's key and format: 1 MiB, the host's default limit.
    assert endpoint["metadata"] == {"implemented": "true", "max_payload": "1MB"}


async def test_micro_stats_show_the_outcomes_and_the_services_health(
    caio_nc: NATS, caio_prefix: str, service_id: str, scripted: Scripted
) -> None:
    await ask(caio_nc, caio_prefix, service_id, {})
    await ask(caio_nc, caio_prefix, service_id, {"do": "crash"})
    scripted.health = {"status": "degraded", "upstream": "slow"}

    stats = json.loads((await caio_nc.request(f"$SRV.STATS.{service_id}", b"", timeout=5)).data)

    (endpoint,) = stats["endpoints"]
    assert endpoint["num_requests"] == 2
    assert endpoint["data"] == {
        "ok": 1,
        "errors": 1,
        "in_flight": 0,
        "health": {"status": "degraded", "upstream": "slow"},
    }


async def test_an_unhealthy_instance_leaves_the_rotation_and_comes_back_when_healthy(
    caio_nc: NATS, caio_prefix: str, service_id: str, scripted: Scripted
) -> None:
    beats = await caio_nc.subscribe(Subjects(caio_prefix).heartbeat(service_id))
    await caio_nc.flush()

    scripted.health = {"status": "unhealthy", "why": "no GPU"}
    while "stopping" not in json.loads((await beats.next_msg(timeout=10)).data):
        pass
    refused = await ask(caio_nc, caio_prefix, service_id, {})
    scripted.health = {"status": "healthy"}
    back = json.loads((await beats.next_msg(timeout=10)).data)
    served = await ask(caio_nc, caio_prefix, service_id, {})
    await beats.unsubscribe()

    assert refused.error["code"] == "service_unavailable"
    assert refused.error["details"] == {"reason": "unhealthy"}
    assert refused.error["retryable"] is True
    assert refused.headers["Nats-Service-Error-Code"] == "503"
    assert "stopping" not in back
    assert served.ok


async def test_a_capability_the_service_does_not_implement_is_answered_not_implemented(
    caio_nc: NATS, caio_prefix: str, service_id: str, caio_host: Any
) -> None:
    class Partial(Scripted):
        implemented_capabilities = frozenset({"answer"})

    service = Partial(service_id)
    service.contract = ServiceContract.model_validate(
        {
            "id": service_id,
            "name": "Partial",
            "version": "1.0.0",
            "capabilities": [{"type": "answer"}, {"type": "later"}],
        }
    )
    await caio_host(service)

    answer = await ask_service(caio_nc, service_id, "later", prefix=caio_prefix)

    assert answer.error["details"] == {
        "reason": "capability_not_implemented",
        "capability": "later",
    }


def test_a_service_that_implements_none_of_its_contract_cannot_be_hosted(service_id: str) -> None:
    class Elsewhere(Scripted):
        implemented_capabilities = frozenset({"other"})

    with pytest.raises(ValueError, match="implements none of contract"):
        ServiceHost(Elsewhere(service_id), HostConfig(register=False))


async def test_setup_runs_before_serving_and_teardown_after_the_last_reply(
    caio_nats_url: str, caio_prefix: str, service_id: str
) -> None:
    service = Scripted(service_id)
    host = ServiceHost(
        service, HostConfig(nats_url=caio_nats_url, prefix=caio_prefix, register=False)
    )

    async with host:
        assert service.lifecycle == ["setup"]
        assert host.running

    assert service.lifecycle == ["setup", "teardown"]
    assert not host.running


async def test_without_a_router_the_registration_is_refused_and_serving_goes_on(
    caio_nc: NATS, caio_prefix: str, service_id: str, caio_host: Any
) -> None:
    host = await caio_host(Scripted(service_id), register=True)

    answer = await ask(caio_nc, caio_prefix, service_id, {"answer": 1})

    assert isinstance(host.registration_error, ServiceUnavailable)
    assert host.registration is None
    assert answer.result == {"answer": 1}


async def test_heartbeats_carry_the_instance_an_rfc3339_time_and_their_interval(
    caio_nc: NATS, caio_prefix: str, service_id: str, caio_host: Any
) -> None:
    beats = await caio_nc.subscribe(Subjects(caio_prefix).heartbeat(service_id))
    await caio_nc.flush()

    host = await caio_host(Scripted(service_id), heartbeat_interval_s=2.5)
    beat = json.loads((await beats.next_msg(timeout=10)).data)
    await beats.unsubscribe()

    assert beat["service_id"] == service_id
    assert beat["instance_id"] == host.instance_id
    assert beat["interval_s"] == 2.5
    sent = datetime.fromisoformat(beat["ts"])
    assert sent.utcoffset() == timedelta(0)
    assert abs(sent.timestamp() - time.time()) < 60


async def test_serve_runs_a_service_until_sigterm_then_leaves_gracefully(
    caio_nats_url: str, caio_nc: NATS, echo_example: Any
) -> None:
    example = echo_example
    prefix = new_prefix()
    beats = await caio_nc.subscribe(Subjects(prefix).heartbeat("echo"))
    await caio_nc.flush()

    running = asyncio.create_task(
        serve(
            example.EchoService(),
            example.CONTRACT,
            nats_url=caio_nats_url,
            prefix=prefix,
            register=False,
        )
    )
    hello = json.loads((await beats.next_msg(timeout=10)).data)
    answer = await ask_service(caio_nc, "echo", "echo", {"text": "up"}, prefix=prefix)
    os.kill(os.getpid(), signal.SIGTERM)  # serve() handles it; the test process lives on
    await asyncio.wait_for(running, timeout=10)
    goodbye = json.loads((await beats.next_msg(timeout=10)).data)

    assert answer.result == {"echo": "up"}
    assert goodbye["stopping"] is True
    assert goodbye["instance_id"] == hello["instance_id"]
