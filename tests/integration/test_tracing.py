"""A caller's W3C trace context goes through the router to the worker and into the audit.

Tracing is off here (the default): the router passes the caller's
``traceparent`` on untouched and records its trace id. sdk/tests/test_tracing.py
covers the spans made when OpenTelemetry is switched on.
"""

from __future__ import annotations

import orjson
from nats.aio.client import Client as NATS

from caio_integration.subjects import Subjects
from tests.integration.conftest import ServiceFactory, audit_records

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


async def test_the_callers_traceparent_reaches_the_worker_and_the_audit_record(
    nc: NATS, subjects: Subjects, live_service: ServiceFactory
) -> None:
    service = await live_service("traced")

    reply = await nc.request(
        subjects.route("code_review"),
        orjson.dumps({"context": {}, "request_id": "traced-1"}),
        timeout=10,
        headers={"traceparent": TRACEPARENT},
    )

    assert orjson.loads(reply.data)["status"] == "ok"
    assert service.headers[-1]["traceparent"] == TRACEPARENT
    (record,) = [r for r in await audit_records(nc, subjects) if r["request_id"] == "traced-1"]
    assert record["trace_id"] == TRACE_ID


async def test_without_a_valid_traceparent_nothing_is_sent_on_or_recorded(
    nc: NATS, subjects: Subjects, live_service: ServiceFactory
) -> None:
    service = await live_service("untraced")

    for request_id, headers in (("plain", None), ("garbled", {"traceparent": "00-zz-01"})):
        body = orjson.dumps({"context": {}, "request_id": request_id})
        await nc.request(subjects.route("code_review"), body, timeout=10, headers=headers)

    assert all("traceparent" not in seen for seen in service.headers)
    records = [r for r in await audit_records(nc, subjects) if r["kind"] == "route"]
    assert {r["request_id"] for r in records} == {"plain", "garbled"}
    assert all("trace_id" not in r for r in records)
