"""A streamed route request, as a caller reads it: chunks as they come, then the reply.

::

    async with caio.stream("chat", {"messages": [...]}) as stream:
        async for chunk in stream:
            print(chunk.data)
    print(stream.reply.usage)

The request goes out with ``stream: true`` and a reply subject of its own;
the router answers there with ``StreamChunk`` messages and then one final
reply (docs/protocol.md, "Streaming"). An error reply, before or after
chunks, is raised as its ``CAIOError``; a chunk out of order, or silence
longer than the request's timeout, ends the stream with ``ServiceError`` /
``Timeout``, never with a quiet end.
"""

from __future__ import annotations

from typing import Any

from nats.aio.client import Client as NATS
from nats.aio.subscription import Subscription
from nats.errors import TimeoutError as NatsTimeoutError

from caio_integration._json import dumps, loads
from caio_integration.errors import (
    CAIOError,
    ServiceError,
    ServiceUnavailable,
    Timeout,
    raise_for_reply,
)
from caio_integration.wire import RouteReply, StreamChunk

__all__ = ["RouteStream"]

_NO_RESPONDERS = "503"


class RouteStream:
    """One streamed request: ``async with`` sends it, ``async for`` reads its chunks."""

    __slots__ = (
        "_body",
        "_done",
        "_headers",
        "_nc",
        "_seq",
        "_sub",
        "_subject",
        "_timeout_s",
        "reply",
    )

    def __init__(
        self,
        nc: NATS,
        subject: str,
        body: dict[str, Any],
        *,
        headers: dict[str, str] | None,
        timeout_s: float,
    ) -> None:
        self._nc = nc
        self._subject = subject
        self._body = {**body, "stream": True}
        self._headers = headers
        self._timeout_s = timeout_s
        self._sub: Subscription | None = None
        self._seq = 0
        self._done = False
        self.reply: RouteReply | None = None  # the final reply, once the stream has ended

    async def __aenter__(self) -> RouteStream:
        inbox = self._nc.new_inbox()
        self._sub = await self._nc.subscribe(inbox)
        await self._nc.publish(self._subject, dumps(self._body), reply=inbox, headers=self._headers)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None

    def __aiter__(self) -> RouteStream:
        return self

    async def __anext__(self) -> StreamChunk:
        if self._done:
            raise StopAsyncIteration
        if self._sub is None:
            raise RuntimeError("use `async with caio.stream(...)` before reading it")
        try:
            msg = await self._sub.next_msg(timeout=self._timeout_s)
        except NatsTimeoutError:
            self._done = True
            raise Timeout(
                f"nothing on the stream for {self._timeout_s:g} s after {self._seq} chunks"
            ) from None
        if msg.headers and msg.headers.get("Status") == _NO_RESPONDERS:
            self._done = True
            raise ServiceUnavailable(
                f"no CAIO router answers on {self._subject}; is `caio up` or `caio router` running?"
            )
        message = loads(msg.data)
        if not isinstance(message, dict):
            self._done = True
            raise CAIOError(f"unreadable message on the stream from {self._subject}")
        if message.get("status") == "chunk":
            chunk = StreamChunk.model_validate(message)
            if chunk.seq != self._seq:
                self._done = True
                raise ServiceError(f"chunk {chunk.seq} arrived where {self._seq} was due")
            self._seq += 1
            return chunk
        self._done = True
        self.reply = RouteReply.model_validate(raise_for_reply(message))
        raise StopAsyncIteration
