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

    request_id: str = Field(description="The route request's id (the caller's or the router's).")
    capability: Token = Field(description="The capability asked for: the subject's `<capability>`.")
    context: dict[str, Any] = Field(
        default_factory=dict, description="The route request's `context`, unchanged: the input."
    )
    caller: str | None = Field(
        None,
        description="The name of the caller's API key; null on a router run with"
        " `--insecure-no-auth`.",
    )
    deadline_ms: int | None = Field(
        None,
        description="Absolute Unix time in milliseconds when the router stops waiting for this"
        " attempt; the router always sends it.",
    )
    stream: bool = Field(
        False,
        description="Extension: the caller asked for a stream: answer with `StreamChunk`"
        " messages on the reply subject, then the final reply (or simply the final reply).",
    )


class ServiceReply(ReplyBody):
    """A bridge worker's success: an object ``result`` (an error is an ``ErrorReply``)."""

    status: Literal["ok"] = Field(description="Always `ok`; a failure is an `ErrorReply`.")
    request_id: str | None = Field(
        None, description="Extension: the service request's `request_id`, echoed."
    )
    result: dict[str, Any] = Field(
        description="The answer, an object; it must satisfy the capability's `output_schema`"
        " when the contract gives one. It becomes the route reply's `result`."
    )
    usage: dict[str, Any] | None = Field(
        None,
        description="What the work used (tokens, units, anything to bill or log); passed on as"
        " the route reply's `usage`.",
    )


class Heartbeat(PeerBody):
    """A bridge worker instance is alive (sent on start and at least every 5 s).

    ``ts`` is the sender's clock, RFC 3339 text or epoch seconds; it is
    parsed to epoch seconds. Liveness uses the router's own clock, so a
    worker's skewed clock never makes it look dead or alive.
    """

    service_id: Token = Field(
        description="The service this worker serves; must be the subject's `<service_id>`."
    )
    instance_id: Annotated[str, Field(min_length=1, max_length=128)] = Field(
        description="This worker instance's id (1-128 characters): the router counts a"
        " service's live instances by distinct ids."
    )
    ts: EpochSeconds = Field(
        description="When it was sent, by the worker's clock: RFC 3339 with a zone"
        " (2026-12-01T10:00:00Z) or epoch seconds. Liveness uses the router's clock instead."
    )
    stopping: bool = Field(
        False, description="Extension: the worker is shutting down; drop it at once."
    )
    interval_s: Annotated[float, Field(gt=0)] | None = Field(
        None,
        description="Extension: seconds between this instance's beats (the Synadia Agent"
        " Protocol draft's name); routers judge liveness by their own window.",
    )
