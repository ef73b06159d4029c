"""``<prefix>.route.<capability>``: the request, its answer, the dry-run decision.

Every exclusion carries a stable code (``ExclusionCode``) beside its text:
programs decide by the code (a durable job waits out ``unavailable``), the
text is for people.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import Field, WithJsonSchema

from caio_integration.wire._base import NonNegative, ReplyBody, RequestId, Token, WireBody
from caio_integration.wire.stream import StreamSummary

__all__ = [
    "EXCLUSION_CODES",
    "Attempt",
    "AttemptStatus",
    "Candidate",
    "DryRunReply",
    "ExclusionCode",
    "RouteConstraints",
    "RouteGuarantees",
    "RouteReply",
    "RouteRequest",
]


class RouteGuarantees(WireBody):
    """What the caller needs the chosen service to promise (its contract's guarantees)."""

    max_p95_latency_ms: NonNegative | None = Field(
        None,
        description="Milliseconds: only services whose contract promises a p95 latency bound"
        " at most this (on routes, also an observed p95 within it once the router has enough"
        " samples); absent: no bound.",
    )
    min_accuracy: Annotated[float, Field(ge=0, le=1)] | None = Field(
        None,
        description="0 to 1: only services promising at least this accuracy for every"
        " required capability (its own `accuracy.min`, else the service's); absent: no bound.",
    )


class RouteConstraints(WireBody):
    """Hard limits on which services may serve the request: cost, data locality, compliance."""

    max_cost_per_token: NonNegative | None = Field(
        None,
        description="Only services whose contract states a price per token (free: 0) no"
        " higher than this, in the contract's own currency (not converted); absent: no bound.",
    )
    data_locality: list[str] | None = Field(
        None,
        description="Only services whose contract's `privacy.data_locality` is one of these"
        " (e.g. `on_prem`); a caller key's policy may narrow it; absent: anywhere.",
    )
    hipaa_compliant: bool | None = Field(
        None,
        description="true: only services whose contract says HIPAA compliant; false or"
        " absent: no restriction (unless the caller key's policy asks for it).",
    )
    min_context_tokens: Annotated[int, Field(ge=0)] | None = Field(
        None,
        description="Only services whose contract states a context length"
        " (`constraints.context_length.max_tokens`) of at least this many tokens.",
    )
    service_ids: list[Token] | None = Field(
        None,
        description="Only these services may be chosen (others are excluded as"
        " `not_requested`); absent: any service.",
    )
    exclude_service_ids: list[Token] | None = Field(
        None, description="These services are never chosen (excluded as `excluded_by_request`)."
    )


class RouteRequest(WireBody):
    """What a caller sends to ``caio.route.<capability>``.

    A durable job (``caio.jobs.<capability>``) is the same body.
    """

    request_id: RequestId | None = Field(
        None,
        description="Id of this request (1-128 characters), echoed in the reply, the service"
        " request and the audit record; the router generates one when absent. A durable job"
        " needs one (here or as the `Nats-Msg-Id` header).",
    )
    requirements: list[Token] = Field(
        default_factory=list,
        description="Capabilities the chosen service must also offer, besides the subject's"
        " `<capability>`.",
    )
    guarantees: RouteGuarantees = Field(
        default_factory=RouteGuarantees,
        description="Latency and accuracy bounds the chosen service's contract must promise.",
    )
    constraints: RouteConstraints = Field(
        default_factory=RouteConstraints,
        description="Cost, privacy, context-length and service-id conditions the chosen"
        " service must satisfy.",
    )
    context: dict[str, Any] = Field(
        default_factory=dict,
        description="The service's input: handed unchanged to the chosen service as the"
        " service request's `context`.",
    )
    timeout_ms: Annotated[int, Field(gt=0, le=3_600_000)] = Field(
        30_000,
        description="Milliseconds the router may spend on the request, every attempt and"
        " fallback included (1 to 3,600,000; default 30,000).",
    )
    dry_run: bool = Field(
        False,
        description="true: reply with the routing decision (`DryRunReply`) and call no service.",
    )
    stream: bool = Field(
        False,
        description="Extension: true: the answer comes as `StreamChunk` messages on the reply"
        " subject, then the final reply (publish with a reply subject you listen on).",
    )
    cache: bool = Field(
        True,
        description="Extension: false: never answered from the response cache, and the"
        " answer is not stored in it (contracts with a `cache` policy, or deterministic).",
    )


ExclusionCode = Literal[
    "excluded_by_request",  # in the request's exclude_service_ids
    "not_requested",  # not among the request's service_ids
    "not_permitted",  # outside the caller key's services
    "capability_missing",  # lacks a required capability
    "guarantee_unmet",  # p95 or accuracy bound missing or not good enough
    "cost",  # cost per token unknown or too high
    "privacy",  # data locality or HIPAA
    "context_too_small",  # context length unknown or too small
    "unavailable",  # no live worker
    "circuit_open",  # this router's circuit for it is open
    "observed_p95",  # observed p95 above what the request asked for
]
EXCLUSION_CODES: frozenset[str] = frozenset(get_args(ExclusionCode))

AttemptStatus = Literal["ok", "error", "timeout", "no_responders", "rate_limited", "circuit_open"]


class Candidate(ReplyBody):
    """A service that satisfies the request, with its ranking score."""

    service_id: str = Field(description="A service that satisfies the request.")
    score: float = Field(
        description="Its contract score for the capability: 0 to 1, higher is better, rounded"
        " to 6 places."
    )


# What one answered request cost, in the serving contract's currency. Carried as a
# plain object: a nested model costs the route path about 3 µs more per message.
PRICE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "amount": {"type": "number", "minimum": 0, "description": "The price: 0 or more."},
        "currency": {"type": "string", "description": "The contract's `cost.currency`."},
    },
    "required": ["amount", "currency"],
}
Price = Annotated[dict[str, Any], WithJsonSchema(PRICE_SCHEMA)]


class Attempt(ReplyBody):
    """One forward to one candidate service."""

    service_id: str = Field(description="The candidate service this attempt went to.")
    status: AttemptStatus = Field(
        description="`ok`: a usable answer; `error`: an error reply or an unusable result;"
        " `timeout`: no reply within the attempt's timeout; `no_responders`: no worker"
        " subscribed; `rate_limited`: the contract's rate or concurrency limit was reached;"
        " `circuit_open`: this router's circuit for the service is open (with these two the"
        " service was not called)."
    )
    latency_ms: float | None = Field(
        None,
        description="Extension: milliseconds from sending the request to its reply or"
        " failure; 0 when the service was not called.",
    )
    error: dict[str, Any] | None = Field(
        None,
        description="The error object: the service's own, or the router's (a timeout, an"
        " invalid result, a limit with `retry_after_s`, the open circuit); absent on `ok` and"
        " `no_responders`.",
    )


class RouteReply(ReplyBody):
    """The chosen service's answer, with the guarantees of its contract."""

    status: Literal["ok"] = Field(description="Always `ok`: a service answered.")
    request_id: str = Field(
        description="The request's id: the caller's, or one the router generated."
    )
    service_id: str = Field(description="The service that answered.")
    capability: str = Field(description="The capability routed: the subject's `<capability>`.")
    guarantees: dict[str, Any] = Field(
        description="The answering service's contract guarantees (normalized, nulls left out)."
    )
    result: dict[str, Any] | None = Field(description="What the service returned: its `result`.")
    latency_ms: float = Field(
        description="Milliseconds from the router receiving the request to this reply,"
        " by the router's clock."
    )
    attempts: list[Attempt] = Field(
        description="Every forward, in order; the last is the one that answered."
    )
    usage: dict[str, Any] | None = Field(
        None, description="Extension: the service's `usage`, when it returned one."
    )
    price: Price | None = Field(
        None,
        description="Extension: what this result cost: the contract's `cost` times the"
        " `usage` (caio_integration.pricing); absent when the contract states no cost.",
    )
    cache: dict[str, Any] | None = Field(
        None,
        description="Extension: on an answer from the response cache: `hit: true`,"
        " `original_request_id` (the request whose answer it is) and `stored_at`.",
    )
    verdict: dict[str, Any] | None = Field(
        None,
        description="Extension: this result against the serving contract: `latency`"
        " (bound_ms, observed_ms, kept, invariant), `output_schema` (kept, or checked: false"
        " when streamed), `unchecked` (guarantees one result cannot show).",
    )
    stream: StreamSummary | None = Field(
        None, description="Extension: on a streamed request, how many chunks came before."
    )
    job: dict[str, Any] | None = Field(
        None,
        description="Extension: only in a durable job's stored result, how the job went:"
        " capability, deliveries, finished_at, dead_letter, reason.",
    )


class DryRunReply(ReplyBody):
    """``dry_run: true``: the decision alone; no service was called."""

    status: Literal["ok"] = Field(description="Always `ok`: a service would be called.")
    dry_run: Literal[True] = Field(description="Always true: tells this reply from a `RouteReply`.")
    request_id: str = Field(
        description="The request's id: the caller's, or one the router generated."
    )
    capability: str = Field(description="The capability asked for: the subject's `<capability>`.")
    service_id: str = Field(description="The service a real request would be sent to first.")
    guarantees: dict[str, Any] = Field(
        description="That service's contract guarantees (normalized, nulls left out)."
    )
    candidates: list[Candidate] = Field(
        description="The services a real request would try, in order: the best few (at most"
        " five), best first."
    )
    excluded: dict[str, str] | None = Field(
        None,
        description="Extension: service id -> why it was left out, for each service looked at"
        " (not necessarily every service offering the capability: the scan stops at the best"
        " five).",
    )
    excluded_codes: dict[str, ExclusionCode] | None = Field(
        None, description="Extension: service id -> the stable code of its exclusion."
    )
    registry_revision: int | None = Field(
        None, description="Extension: the registry (KV) revision the decision was made against."
    )
    pool: int | None = Field(None, description="Extension: how many services offer the capability.")
    job: dict[str, Any] | None = Field(
        None,
        description="Extension: only in a durable job's stored result, how the job went:"
        " capability, deliveries, finished_at, dead_letter, reason.",
    )
