"""Between the router and bridge workers: the service request and reply, and heartbeats."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from caio_integration.wire._base import EpochSeconds, PeerBody, ReplyBody, Token

__all__ = ["Heartbeat", "ServiceReply", "ServiceRequest"]


class ServiceRequest(PeerBody):
    """What the router sends to ``caio.svc.<service_id>.<capability>``.

    ``deadline_ms`` is an absolute Unix time in milliseconds: past it the
    router has stopped waiting, so a worker should not start (or go on).
    """

    request_id: str
    capability: Token
    context: dict[str, Any] = Field(default_factory=dict)
    caller: str | None = None
    deadline_ms: int | None = None


class ServiceReply(ReplyBody):
    """A bridge worker's success: an object ``result`` (an error is an ``ErrorReply``)."""

    status: Literal["ok"]
    request_id: str | None = Field(None, description="Extension: the request's id.")
    result: dict[str, Any]
    usage: dict[str, Any] | None = None


class Heartbeat(PeerBody):
    """A bridge worker instance is alive (sent on start and at least every 5 s).

    ``ts`` is the sender's clock, RFC 3339 text or epoch seconds; it is
    parsed to epoch seconds. Liveness uses the router's own clock, so a
    worker's skewed clock never makes it look dead or alive.
    """

    service_id: Token
    instance_id: Annotated[str, Field(min_length=1, max_length=128)]
    ts: EpochSeconds
    stopping: bool = Field(
        False, description="Extension: the worker is shutting down; drop it at once."
    )
