"""A streamed answer on its way from a worker to the caller.

The forwarder reads the worker's replies one by one (``ReplyMux.stream``);
each ``chunk`` goes through a ``StreamRelay``, which checks it (an object
``data``, numbered without gaps), stamps it with the service and the
router's own numbering, and publishes it on the caller's reply subject at
once. The first chunk commits the call to that service: from then on a
failure ends the stream with an error instead of falling back, because the
caller already holds part of an answer.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from caio_integration.errors import ServiceError
from caio_integration.wire import StreamChunk, StreamSummary

__all__ = ["Publish", "StreamBroken", "StreamRelay", "is_chunk"]

Publish = Callable[[bytes], Awaitable[None]]


class StreamBroken(ServiceError):
    """A stream that cannot go on: a malformed chunk, a gap, or a worker gone quiet."""

    def __init__(self, message: str, *, chunks: int) -> None:
        super().__init__(
            message, details={"reason": "stream_broken", "chunks": chunks}, retryable=False
        )


def is_chunk(reply: dict[str, Any]) -> bool:
    """Whether a decoded reply is a chunk (more follow) rather than the final reply."""
    return reply.get("status") == "chunk"


class StreamRelay:
    """Relays one request's chunks to its caller and counts them."""

    __slots__ = ("_publish", "_started", "chunks", "first_chunk_ms", "request_id")

    def __init__(self, publish: Publish, started: float, request_id: str) -> None:
        self._publish = publish
        self._started = started  # time.perf_counter() when the request arrived
        self.request_id = request_id
        self.chunks = 0
        self.first_chunk_ms: float | None = None

    @property
    def committed(self) -> bool:
        """True once a chunk reached the caller: no other service may answer now."""
        return self.chunks > 0

    async def relay(self, service_id: str, reply: dict[str, Any]) -> None:
        """Pass one decoded chunk on; ``StreamBroken`` when it is not one the caller can use."""
        data = reply.get("data")
        if not isinstance(data, dict):
            raise StreamBroken(
                f"{service_id} sent chunk {self.chunks} without an object `data`",
                chunks=self.chunks,
            )
        if reply.get("seq") != self.chunks:
            raise StreamBroken(
                f"{service_id} sent chunk seq {reply.get('seq')!r} where {self.chunks} was due",
                chunks=self.chunks,
            )
        chunk = StreamChunk(
            status="chunk",
            request_id=self.request_id,
            seq=self.chunks,
            data=data,
            service_id=service_id,
        )
        await self._publish(chunk.to_json())
        if self.first_chunk_ms is None:
            self.first_chunk_ms = round((time.perf_counter() - self._started) * 1000, 3)
        self.chunks += 1

    def summary(self) -> StreamSummary:
        return StreamSummary(chunks=self.chunks, first_chunk_ms=self.first_chunk_ms)
