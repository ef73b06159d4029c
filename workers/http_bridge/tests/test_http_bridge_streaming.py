"""Streamed answers: the upstream's chunks reach the caller as the upstream sends them.

A caller asks for a stream (``CAIOClient.stream``); the router asks the
bridge to stream; the bridge sets the endpoint's stream flag, reads the
upstream's server-sent events (or JSON lines) and passes each object on as
one chunk. The final result counts them and joins their text.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from fake_upstream import FakeUpstream, Reply, json_reply
from http_bridge_support import EXAMPLES, SECRET, StartBridge, serving
from nats.aio.client import Client as NATS

from caio_http_bridge import HttpBridgeService
from caio_integration.client import CAIOClient
from caio_integration.errors import CAIOError, ServiceError
from caio_integration.service import WorkResult

CHAT = EXAMPLES / "openai-compatible-chat.yaml"
ANTHROPIC = EXAMPLES / "anthropic-messages.yaml"
HELLO = {"messages": [{"role": "user", "content": "hello there"}]}
KEYS = {"OPENAI_API_KEY": SECRET, "ANTHROPIC_API_KEY": SECRET}

Streamed = tuple[list[dict[str, Any]], Any]


@pytest.fixture
async def caio(caio_nc: NATS, caio_prefix: str, router: Any) -> AsyncIterator[CAIOClient]:
    async with CAIOClient(prefix=caio_prefix, nc=caio_nc) as client:
        yield client


async def read_stream(caio: CAIOClient, capability: str, context: dict[str, Any]) -> Streamed:
    """Every chunk's data, and the final reply."""
    async with caio.stream(capability, context) as stream:
        chunks = [chunk.data async for chunk in stream]
    return chunks, stream.reply


async def read_into(
    received: list[dict[str, Any]], caio: CAIOClient, capability: str, context: dict[str, Any]
) -> None:
    """Read a stream into ``received`` chunk by chunk, so a failure leaves what came before."""
    async with caio.stream(capability, context) as stream:
        async for chunk in stream:
            received.append(chunk.data)


async def test_an_openai_compatible_stream_reaches_the_caller_chunk_by_chunk(
    bridge: StartBridge, router: Any, caio: CAIOClient, upstream: FakeUpstream
) -> None:
    service = await bridge(CHAT, path="/v1", env=KEYS, register=True)
    await serving(router, service)

    chunks, reply = await read_stream(caio, "chat_completion", HELLO)

    pieces = [chunk["choices"][0]["delta"].get("content") for chunk in chunks]
    assert pieces == ["", "Echo:", " hello", " there", None]
    assert reply.result == {"chunks": 5, "text": "Echo: hello there"}
    assert reply.stream.chunks == 5
    assert upstream.last.body["stream"] is True
    assert upstream.last.headers["accept"] == "text/event-stream"


async def test_a_stream_reports_the_usage_its_last_chunk_carries(
    bridge: StartBridge, router: Any, caio: CAIOClient
) -> None:
    service = await bridge(CHAT, path="/v1", env=KEYS, register=True)
    await serving(router, service)

    _, reply = await read_stream(
        caio, "chat_completion", {**HELLO, "stream_options": {"include_usage": True}}
    )

    assert reply.usage == {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6}


async def test_an_anthropic_stream_passes_every_event_on_and_joins_the_text(
    bridge: StartBridge, router: Any, caio: CAIOClient
) -> None:
    service = await bridge(ANTHROPIC, env=KEYS, register=True)
    await serving(router, service)

    chunks, reply = await read_stream(caio, "anthropic_message", HELLO)

    assert [chunk["type"] for chunk in chunks] == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert reply.result == {"chunks": 9, "text": "Echo: hello there"}
    assert reply.usage == {"output_tokens": 3}


async def test_the_first_chunk_arrives_before_the_upstream_has_sent_the_rest(
    bridge: StartBridge, router: Any, caio: CAIOClient, upstream: FakeUpstream
) -> None:
    rest = upstream.pace()  # the upstream sends one chunk, then waits for `rest`
    service = await bridge(CHAT, path="/v1", env=KEYS, register=True)
    await serving(router, service)

    async with caio.stream("chat_completion", HELLO) as stream:
        first = await anext(stream)
        upstream_still_waiting = not rest.is_set()
        rest.set()
        others = [chunk async for chunk in stream]

    assert first.data["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert upstream_still_waiting
    assert len(others) == 4


async def test_a_stream_cut_short_ends_with_a_service_error_after_what_came(
    bridge: StartBridge, router: Any, caio: CAIOClient, upstream: FakeUpstream
) -> None:
    upstream.cut_after(2)
    service = await bridge(CHAT, path="/v1", env=KEYS, register=True)
    await serving(router, service)
    received: list[dict[str, Any]] = []

    with pytest.raises(CAIOError) as broken:
        await read_into(received, caio, "chat_completion", HELLO)

    assert len(received) == 2
    assert broken.value.code == "service_error"


async def test_an_endpoint_that_does_not_stream_answers_a_stream_request_once(
    bridge: StartBridge, router: Any, caio: CAIOClient
) -> None:
    service = await bridge(EXAMPLES / "text-embeddings.yaml", path="/v1", register=True)
    await serving(router, service)

    chunks, reply = await read_stream(caio, "text_embedding", {"input": "hi"})

    assert chunks == []
    assert len(reply.result["data"]) == 1


async def test_a_plain_request_tells_a_streaming_upstream_not_to_stream(
    bridge: StartBridge, router: Any, caio: CAIOClient, upstream: FakeUpstream
) -> None:
    service = await bridge(CHAT, path="/v1", env=KEYS, register=True)
    await serving(router, service)

    reply = await caio.route("chat_completion", {**HELLO, "stream": True})

    assert reply.result["object"] == "chat.completion"
    assert upstream.last.body["stream"] is False


# -- the stream reader on its own, without a router -----------------------------------------

Collect = Callable[..., Awaitable[tuple[list[dict[str, Any]], WorkResult]]]


@pytest.fixture
async def collect(upstream: FakeUpstream) -> AsyncIterator[Collect]:
    """``await collect(contract, capability, context)``: what ``execute_stream`` yields."""
    started: list[HttpBridgeService] = []

    async def run(
        contract: Path, capability: str, context: dict[str, Any], path: str = ""
    ) -> tuple[list[dict[str, Any]], WorkResult]:
        service = HttpBridgeService(base_url=upstream.base_url + path, env=KEYS)
        service.initialize(contract)
        await service.setup()
        started.append(service)
        items = [
            item
            async for item in service.execute_stream(
                context, {"capability": capability, "deadline_ms": None}
            )
        ]
        final = items.pop()
        assert isinstance(final, WorkResult)
        chunks = [item for item in items if isinstance(item, dict)]
        assert len(chunks) == len(items)  # only the last item is a WorkResult
        return chunks, final

    yield run
    for service in started:
        await service.teardown()


def ndjson_contract(directory: Path) -> Path:
    document = {
        "service": {
            "id": "ollama-native",
            "name": "Ollama's own API",
            "version": "1.0.0",
            "capabilities": [{"type": "chat"}],
            "api": {
                "protocol": "http",
                "base_url": "http://127.0.0.1:11434",
                "endpoints": [
                    {
                        "capability": "chat",
                        "path": "/api/chat",
                        "stream": {"format": "ndjson", "text_path": "message.content"},
                    }
                ],
            },
        }
    }
    path = directory / "ollama.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


async def test_json_lines_stream_like_server_sent_events(
    collect: Collect, upstream: FakeUpstream, tmp_path: Path
) -> None:
    lines = [
        b'{"message": {"content": "Hel"}, "done": false}\n',
        b'{"message": {"content": "lo"}, "done": false}\n{"done": true, "eval_count": 2}\n',
    ]
    upstream.answer_with(Reply(200, {"content-type": "application/x-ndjson"}, events=lines))

    chunks, final = await collect(ndjson_contract(tmp_path), "chat", {"model": "llama3"})

    assert [chunk.get("done") for chunk in chunks] == [False, False, True]
    assert final.result == {"chunks": 3, "text": "Hello"}


async def test_an_error_event_in_the_stream_ends_it_with_the_upstreams_words(
    collect: Collect, upstream: FakeUpstream
) -> None:
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    events = [
        b'event: message_start\ndata: {"type": "message_start"}\n\n',
        b"event: error\ndata: " + json_reply(200, error).body + b"\n\n",
    ]
    upstream.answer_with(Reply(200, {"content-type": "text/event-stream"}, events=events))

    with pytest.raises(ServiceError) as broken:
        await collect(ANTHROPIC, "anthropic_message", HELLO)

    assert broken.value.details == {"reason": "upstream_stream_error", "chunks": 1}
    assert broken.value.message.endswith("after 1 chunks: Overloaded")


async def test_a_stream_without_its_end_marker_was_cut_short(
    collect: Collect, upstream: FakeUpstream
) -> None:
    events = [b'data: {"choices": [{"delta": {"content": "Hi"}}]}\n\n']  # and no [DONE]
    upstream.answer_with(Reply(200, {"content-type": "text/event-stream"}, events=events))

    with pytest.raises(ServiceError) as cut:
        await collect(CHAT, "chat_completion", HELLO, path="/v1")

    assert cut.value.details == {"reason": "stream_truncated", "chunks": 1}
    assert cut.value.retryable


async def test_a_line_that_is_not_a_json_object_breaks_the_stream(
    collect: Collect, upstream: FakeUpstream
) -> None:
    events = [b"data: [1, 2]\n\n", b"data: [DONE]\n\n"]
    upstream.answer_with(Reply(200, {"content-type": "text/event-stream"}, events=events))

    with pytest.raises(ServiceError) as broken:
        await collect(CHAT, "chat_completion", HELLO, path="/v1")

    assert broken.value.details["reason"] == "invalid_stream_chunk"


async def test_a_stream_refused_before_its_first_chunk_maps_like_any_failure(
    collect: Collect, upstream: FakeUpstream
) -> None:
    upstream.answer_with(json_reply(429, {"error": {"message": "slow down"}}, {"Retry-After": "2"}))

    with pytest.raises(CAIOError) as refused:
        await collect(CHAT, "chat_completion", HELLO, path="/v1")

    assert refused.value.code == "rate_limited"
    assert refused.value.details["retry_after_s"] == 2
