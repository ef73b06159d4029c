"""Streamed answers: the pieces that come before the final reply.

A caller that sets ``stream: true`` on a route request publishes it with a
reply subject it listens on (not a one-reply request): the router sends
zero or more ``StreamChunk`` messages there, numbered from 0, then exactly
one final message, a ``RouteReply`` (with ``stream``) or an ``ErrorReply``.
Between the router and a worker it is the same: the service request says
``stream: true`` and the worker answers on the request's reply subject with
chunks, then its ``ServiceReply`` or ``ErrorReply``. A worker that does not
stream just replies once; a caller sees a final reply with no chunks.
Every message carries ``status``: ``chunk`` until the last, which is
``ok`` or ``error``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from caio_integration.wire._base import ReplyBody

__all__ = ["StreamChunk", "StreamSummary"]


class StreamChunk(ReplyBody):
    """One piece of a streamed answer (worker -> router -> caller)."""

    status: Literal["chunk"] = Field(description="Always `chunk`: more messages follow.")
    request_id: str | None = Field(None, description="The request's id.")
    seq: Annotated[int, Field(ge=0)] = Field(
        description="The chunk's number: 0, 1, 2... with no gaps; a gap ends the stream in an"
        " error."
    )
    data: dict[str, Any] = Field(
        description="The piece itself, an object as the service made it (e.g. an OpenAI"
        " `chat.completion.chunk`). The router passes it on unchanged."
    )
    service_id: str | None = Field(
        None,
        description="Set by the router on what it relays: the service streaming. Once a chunk"
        " has gone out the router does not fall back to another service.",
    )


class StreamSummary(ReplyBody):
    """How a streamed answer went: the final reply's and the audit record's ``stream``."""

    chunks: Annotated[int, Field(ge=0)] = Field(description="How many chunks were relayed.")
    first_chunk_ms: float | None = Field(
        description="Milliseconds from the router receiving the request to the first chunk it"
        " relayed; null when none came."
    )
