"""``<prefix>.route.<capability>``: the request, its answer, the dry-run decision.

Every exclusion carries a stable code (``ExclusionCode``) beside its text:
programs decide by the code (a durable job waits out ``unavailable``), the
text is for people.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import Field

from caio_integration.wire._base import NonNegative, ReplyBody, RequestId, Token, WireBody

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
    max_p95_latency_ms: NonNegative | None = None
    min_accuracy: Annotated[float, Field(ge=0, le=1)] | None = None


class RouteConstraints(WireBody):
    max_cost_per_token: NonNegative | None = None
    data_locality: list[str] | None = None
    hipaa_compliant: bool | None = None
    min_context_tokens: Annotated[int, Field(ge=0)] | None = None
    service_ids: list[Token] | None = None
    exclude_service_ids: list[Token] | None = None


class RouteRequest(WireBody):
    """What a caller sends to ``caio.route.<capability>``.

    A durable job (``caio.jobs.<capability>``) is the same body.
    """

    request_id: RequestId | None = None
    requirements: list[Token] = Field(default_factory=list)
    guarantees: RouteGuarantees = Field(default_factory=RouteGuarantees)
    constraints: RouteConstraints = Field(default_factory=RouteConstraints)
    context: dict[str, Any] = Field(default_factory=dict)
    timeout_ms: Annotated[int, Field(gt=0, le=3_600_000)] = 30_000
    dry_run: bool = False


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
    service_id: Token
    score: float


class Attempt(ReplyBody):
    """One forward to one candidate service."""

    service_id: Token
    status: AttemptStatus
    latency_ms: float | None = Field(None, description="Extension.")
    error: dict[str, Any] | None = Field(
        None, description="The service's error, or why it was not called."
    )


class RouteReply(ReplyBody):
    """The chosen service's answer, with the guarantees of its contract."""

    status: Literal["ok"]
    request_id: str
    service_id: Token
    capability: Token
    guarantees: dict[str, Any]
    result: dict[str, Any] | None
    latency_ms: float
    attempts: list[Attempt]
    usage: dict[str, Any] | None = Field(
        None, description="Extension: when the service returned one."
    )
    job: dict[str, Any] | None = Field(
        None, description="Extension: a durable job's stored result says how the job went."
    )


class DryRunReply(ReplyBody):
    """``dry_run: true``: the decision alone; no service was called."""

    status: Literal["ok"]
    dry_run: Literal[True]
    request_id: str
    capability: Token
    service_id: Token
    guarantees: dict[str, Any]
    candidates: list[Candidate] = Field(description="The best few (at most five), best first.")
    excluded: dict[str, str] | None = Field(
        None, description="Extension: why each service looked at was left out."
    )
    excluded_codes: dict[str, ExclusionCode] | None = Field(
        None, description="Extension: the stable code of each exclusion."
    )
    registry_revision: int | None = Field(None, description="Extension.")
    pool: int | None = Field(None, description="Extension: how many services offer the capability.")
    job: dict[str, Any] | None = Field(
        None, description="Extension: a durable job's stored result says how the job went."
    )
