"""Streamed answers through a real router: chunks in order, then one final reply.

Services here are bare nats-py, as a worker in any language would be: asked
with ``stream: true`` they answer the request's reply subject several times.
The caller is the SDK's ``CAIOClient.stream``. Under ``--bus=secure`` every
role is its own NATS user, so the router's and the worker's several replies
to one request also prove the secure configuration allows them.
"""

from __future__ import annotations

from typing import Any

import pytest
from nats.aio.client import Client as NATS

from caio_broker.router import Router
from caio_integration.client import CAIOClient
from caio_integration.errors import ServiceError
from caio_integration.subjects import Subjects
from tests.integration.conftest import ServiceFactory, audit_records

TOKENS = [{"delta": "Hel"}, {"delta": "lo"}, {"delta": "!"}]


@pytest.fixture
async def caio(nc: NATS, subjects: Subjects, router: Router) -> CAIOClient:
    return CAIOClient(nc=nc, prefix=subjects.prefix)


async def read_stream(caio: CAIOClient, **options: Any) -> tuple[list[Any], Any]:
    async with caio.stream("code_review", {"code": "x = 1"}, **options) as stream:
        chunks = [chunk async for chunk in stream]
    return chunks, stream.reply


async def read_stream_into(caio: CAIOClient, received: list[Any]) -> None:
    async with caio.stream("code_review", {"code": "x = 1"}) as stream:
        async for chunk in stream:
            received.append(chunk.data)


async def test_the_caller_gets_every_chunk_in_order_then_the_reply_that_counts_them(
    caio: CAIOClient, live_service: ServiceFactory
) -> None:
    service = await live_service("streamer")
    service.chunks = TOKENS

    chunks, reply = await read_stream(caio, request_id="stream-1")

    assert [chunk.data for chunk in chunks] == TOKENS
    assert [chunk.seq for chunk in chunks] == [0, 1, 2]
    assert {(chunk.service_id, chunk.request_id) for chunk in chunks} == {("streamer", "stream-1")}
    assert reply.service_id == "streamer"
    assert reply.usage == {"tokens": 3}
    assert reply.stream is not None
    assert reply.stream.chunks == 3
    assert reply.stream.first_chunk_ms is not None
    assert 0 < reply.stream.first_chunk_ms <= reply.latency_ms


async def test_the_audit_record_of_a_stream_counts_its_chunks(
    caio: CAIOClient, nc: NATS, subjects: Subjects, live_service: ServiceFactory
) -> None:
    service = await live_service("streamer")
    service.chunks = TOKENS

    await read_stream(caio, request_id="stream-audited")

    (record,) = [
        r for r in await audit_records(nc, subjects) if r["request_id"] == "stream-audited"
    ]
    assert record["outcome"] == "ok"
    assert record["stream"]["chunks"] == 3


async def test_a_service_that_does_not_stream_answers_a_stream_with_its_reply_alone(
    caio: CAIOClient, live_service: ServiceFactory
) -> None:
    await live_service("plain")

    chunks, reply = await read_stream(caio)

    assert chunks == []
    assert reply.result == {"served_by": "plain", "echo": {"code": "x = 1"}}
    assert reply.stream is not None
    assert reply.stream.chunks == 0


async def test_a_plain_request_to_a_streaming_service_gets_no_chunks(
    caio: CAIOClient, live_service: ServiceFactory
) -> None:
    service = await live_service("streamer")
    service.chunks = TOKENS

    reply = await caio.route("code_review", {"code": "x = 1"})

    assert reply.service_id == "streamer"
    assert service.received[-1].get("stream") is None
    assert "stream" not in reply.to_dict()


async def test_before_the_first_chunk_a_failing_service_falls_back_to_the_next(
    caio: CAIOClient, live_service: ServiceFactory
) -> None:
    failing = await live_service("first", p95_ms=100)
    failing.mode = "error"
    backup = await live_service("second", p95_ms=900)
    backup.chunks = TOKENS

    chunks, reply = await read_stream(caio)

    assert [chunk.service_id for chunk in chunks] == ["second"] * 3
    assert [attempt.service_id for attempt in reply.attempts] == ["first", "second"]


async def test_after_the_first_chunk_a_broken_stream_ends_in_an_error_without_fallback(
    caio: CAIOClient, live_service: ServiceFactory
) -> None:
    breaking = await live_service("first", p95_ms=100)
    breaking.chunks = TOKENS[:1]
    breaking.break_stream = True
    backup = await live_service("second", p95_ms=900)

    received: list[Any] = []
    with pytest.raises(ServiceError, match="upstream went away"):
        await read_stream_into(caio, received)

    assert received == TOKENS[:1]
    assert backup.received == []


async def test_a_chunk_out_of_order_ends_the_stream_as_broken(
    caio: CAIOClient, live_service: ServiceFactory
) -> None:
    service = await live_service("skipper")
    service.chunks = TOKENS
    service.first_seq = 1

    with pytest.raises(ServiceError, match="seq 1 where 0 was due") as raised:
        await read_stream(caio)

    (attempt,) = raised.value.details["attempts"]
    assert attempt["error"]["details"] == {"reason": "stream_broken", "chunks": 0}
