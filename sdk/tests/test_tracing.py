"""With OpenTelemetry switched on, one trace runs from the caller through the router
to the worker: route, decide, forward and audit spans in the router, execute in the
worker, all in the caller's trace, the worker's a child of the router's forward."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from nats.aio.client import Client as NATS

from caio_integration import AIUCPService, parse_contract
from caio_integration.service import current_context
from caio_integration.subjects import Subjects
from caio_integration.tracing import disable_tracing, enable_tracing

sdk_trace = pytest.importorskip("opentelemetry.sdk.trace")
in_memory = pytest.importorskip("opentelemetry.sdk.trace.export.in_memory_span_exporter")
export = pytest.importorskip("opentelemetry.sdk.trace.export")

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


@pytest.fixture
def spans() -> Iterator[Any]:
    exporter = in_memory.InMemorySpanExporter()
    provider = sdk_trace.TracerProvider()
    provider.add_span_processor(export.SimpleSpanProcessor(exporter))
    enable_tracing(provider)
    yield exporter
    disable_tracing()


class Echo(AIUCPService):
    def __init__(self, service_id: str) -> None:
        self.contract = parse_contract(
            {
                "service": {
                    "id": service_id,
                    "name": "Echo",
                    "version": "1.0.0",
                    "capabilities": [{"type": "echo"}],
                }
            }
        )
        self.seen_trace_ids: list[str | None] = []

    async def execute(
        self, request: dict[str, Any], context: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        current = current_context()
        self.seen_trace_ids.append(None if current is None else current["trace_id"])
        return {"echo": request}


async def test_one_trace_runs_from_the_caller_through_the_router_to_the_worker(
    caio_nc: NATS, caio_prefix: str, caio_host: Any, router: Any, make_key: Any, spans: Any
) -> None:
    service = Echo(f"echo-{caio_prefix}")
    await caio_host(service, register=True, api_key=await make_key("publisher", "publisher"))
    assert await router.liveness.wait_available(service.contract.id, timeout_s=10)
    caller = await make_key("app", "caller")

    reply = await caio_nc.request(
        Subjects(caio_prefix).route("echo"),
        json.dumps({"context": {"hi": 1}}).encode(),
        timeout=10,
        headers={
            "Authorization": f"Bearer {caller}",
            "traceparent": f"00-{TRACE_ID}-{CALLER_SPAN}-01",
        },
    )

    assert json.loads(reply.data)["status"] == "ok"
    finished = {span.name: span for span in spans.get_finished_spans()}
    assert {"caio.route", "caio.decide", "caio.forward", "caio.audit", "caio.execute"} <= set(
        finished
    )
    assert {format(s.context.trace_id, "032x") for s in finished.values()} == {TRACE_ID}
    route, forward = finished["caio.route"], finished["caio.forward"]
    assert format(route.parent.span_id, "016x") == CALLER_SPAN
    assert forward.parent.span_id == route.context.span_id
    assert finished["caio.execute"].parent.span_id == forward.context.span_id
    assert service.seen_trace_ids == [TRACE_ID]
