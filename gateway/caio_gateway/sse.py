"""Server-sent events: a CAIO stream relayed to an HTTP caller as it comes.

A streamed route (``CAIOClient.stream``) gives chunks, then one final reply
or an error. Over HTTP the status line goes out with the first event, so
the stream is opened and its first message read *before* answering: an
error that comes first (no service matches, the key is refused) is still
an ordinary error response with its own status. Later errors can only be
told inside the stream, as an event. A service that does not stream gives
no chunks, only its reply; the caller still gets a stream, of one piece.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

from starlette.responses import Response, StreamingResponse

from caio_gateway.errors import reply_headers
from caio_integration.client import CAIOClient, RouteStream
from caio_integration.errors import CAIOError
from caio_integration.wire import RouteReply, RouteRequest, StreamChunk, error_reply

__all__ = ["DONE", "StreamShape", "event", "open_stream", "route_stream", "sse_response"]

DONE = b"data: [DONE]\n\n"  # OpenAI's end of stream; its SDKs stop reading there
_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # a proxy (nginx) must pass each event on at once
}


def event(data: bytes, name: str | None = None) -> bytes:
    """One event; ``data`` is one line of JSON (orjson never writes a newline in it)."""
    head = b"event: " + name.encode() + b"\n" if name else b""
    return head + b"data: " + data + b"\n\n"


class StreamShape:
    """How one API writes a stream's pieces; each method returns whole events."""

    def chunk(self, chunk: StreamChunk) -> bytes:
        raise NotImplementedError

    def reply(self, reply: RouteReply, chunks: int) -> Iterable[bytes]:
        """The events after the last chunk (``chunks`` came before the reply)."""
        raise NotImplementedError

    def error(self, error: CAIOError) -> bytes:
        raise NotImplementedError


async def open_stream(stream: RouteStream) -> StreamChunk | None:
    """Send the request and read its first chunk (None: the reply came at once).

    Raises the ``CAIOError`` of a stream that fails before its first chunk,
    with the stream already closed.
    """
    await stream.__aenter__()
    try:
        return await anext(stream)
    except StopAsyncIteration:
        return None
    except BaseException:
        await stream.__aexit__(None, None, None)
        raise


async def _relay(
    stream: RouteStream, first: StreamChunk | None, shape: StreamShape
) -> AsyncIterator[bytes]:
    chunks = 0
    try:
        if first is not None:
            yield shape.chunk(first)
            chunks = 1
            try:
                async for chunk in stream:
                    yield shape.chunk(chunk)
                    chunks += 1
            except CAIOError as exc:
                yield shape.error(exc)
                return
        assert stream.reply is not None  # a stream that ended without error has its reply
        for data in shape.reply(stream.reply, chunks):
            yield data
    finally:
        # Also when the caller went away: the stream's inbox subscription must go.
        await stream.__aexit__(None, None, None)


def sse_response(
    stream: RouteStream,
    first: StreamChunk | None,
    shape: StreamShape,
    headers: dict[str, str] | None = None,
) -> StreamingResponse:
    """The opened stream as a ``text/event-stream`` response."""
    return StreamingResponse(
        _relay(stream, first, shape),
        media_type="text/event-stream",
        headers={**_HEADERS, **(headers or {})},
    )


class _CAIOEvents(StreamShape):
    """``/api/v1`` streams: the protocol's own messages, one event each, named by kind."""

    def chunk(self, chunk: StreamChunk) -> bytes:
        return event(chunk.to_json(), "chunk")

    def reply(self, reply: RouteReply, chunks: int) -> list[bytes]:
        return [event(reply.to_json(), "reply")]

    def error(self, error: CAIOError) -> bytes:
        return event(error_reply(error).to_json(), "error")


async def route_stream(client: CAIOClient, capability: str, body: RouteRequest) -> Response:
    """A streamed route request answered as ``chunk`` events, then ``reply`` or ``error``."""
    stream = client.stream(
        capability,
        body.context,
        requirements=body.requirements or None,
        guarantees=body.guarantees.model_dump(exclude_none=True) or None,
        constraints=body.constraints.model_dump(exclude_none=True) or None,
        timeout_ms=body.timeout_ms,
        request_id=body.request_id,
    )
    first = await open_stream(stream)
    answered = first if first is not None else stream.reply
    request_id = answered.request_id if answered is not None else None
    service_id = answered.service_id if answered is not None else None
    return sse_response(stream, first, _CAIOEvents(), reply_headers(request_id, service_id))
