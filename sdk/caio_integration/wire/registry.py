"""``<prefix>.registry.<operation>``: register, deregister, get, list, discover, validate, stats."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, WithJsonSchema

from caio_integration.wire._base import ReplyBody, RequestBody, Token
from caio_integration.wire.route import ExclusionCode, RouteConstraints, RouteGuarantees

__all__ = [
    "Availability",
    "DeregisterReply",
    "DiscoverReply",
    "DiscoverRequest",
    "DiscoveredService",
    "GetReply",
    "HeartbeatRejection",
    "ListReply",
    "ListRequest",
    "RegisterReply",
    "RegisterRequest",
    "ServiceIdRequest",
    "ServiceStats",
    "ServiceSummary",
    "StatsReply",
    "StatsRequest",
    "ValidateReply",
    "ValidateRequest",
]

Availability = Literal["available", "unavailable"]
# Checked by the contract's own schema, which reports errors with their JSONPath.
_Contract = Annotated[Any, WithJsonSchema({"type": "object"})]
_ContractYaml = Annotated[Any, WithJsonSchema({"type": "string"})]


class RegisterRequest(RequestBody):
    """Register a contract: exactly one of ``contract`` (the YAML contract as a JSON
    object, nested or flat dialect) or ``contract_yaml`` (its text)."""

    contract: _Contract = Field(
        None,
        description="The contract as a JSON object (nested or flat dialect); send this or"
        " `contract_yaml`, not both.",
    )
    contract_yaml: _ContractYaml = Field(
        None, description="The contract as YAML text; send this or `contract`, not both."
    )
    replace: bool = Field(
        False, description="Replace a registered contract that differs instead of `conflict`."
    )


class ValidateRequest(RequestBody):
    """Validate a contract without registering it: ``contract`` or ``contract_yaml``."""

    contract: _Contract = Field(
        None,
        description="The contract to check as a JSON object (nested or flat dialect); send this"
        " or `contract_yaml`, not both.",
    )
    contract_yaml: _ContractYaml = Field(
        None, description="The contract to check as YAML text; send this or `contract`, not both."
    )


class ServiceIdRequest(RequestBody):
    """Names one registered service (``deregister``, ``get``)."""

    service_id: Token = Field(description="The registered service's id.")


class ListRequest(RequestBody):
    """``{}`` lists every service; ``capability`` keeps those offering it."""

    capability: Token | None = Field(
        None, description="Only services offering this capability; absent: every service."
    )


class StatsRequest(ListRequest):
    """Extension: this router's observations, for every service or one capability's."""


class DiscoverRequest(RequestBody):
    """Rank services against requirements without routing; an empty ``capabilities``
    considers every service (extension)."""

    capabilities: list[Token] = Field(
        default_factory=list,
        description="Capabilities a service must offer, all of them; scores are for the first."
        " Empty: every service, scored on service-level promises (extension).",
    )
    guarantees: RouteGuarantees = Field(
        default_factory=RouteGuarantees,
        description="Latency and accuracy bounds, as in a route request.",
    )
    constraints: RouteConstraints = Field(
        default_factory=RouteConstraints,
        description="Cost, privacy, context-length and service-id conditions, as in a route"
        " request.",
    )


class RegisterReply(ReplyBody):
    """The contract is stored; ``revision`` is its registry (KV) revision."""

    status: Literal["registered"] = Field(
        description="Always `registered`, also when the contract was unchanged or replaced."
    )
    service_id: Token = Field(description="The contract's service id.")
    revision: int = Field(
        description="The registry (KV) revision of the stored contract; when `unchanged`, the"
        " revision already stored."
    )
    message: str = Field(description="A human sentence saying what happened.")
    action: Literal["registered", "replaced", "unchanged"] | None = Field(
        None,
        description="Extension: what the registration changed: `registered` (new id),"
        " `replaced` (a different contract, with `replace: true`) or `unchanged` (the same"
        " contract was already stored).",
    )


class DeregisterReply(ReplyBody):
    """The service is gone from the registry."""

    status: Literal["deregistered"] = Field(description="Always `deregistered`.")
    service_id: Token = Field(description="The service removed from the registry.")
    revision: int | None = Field(None, description="Extension: the delete marker's revision.")


class GetReply(ReplyBody):
    """One service's normalized contract and availability."""

    status: Literal["ok"] = Field(description="Always `ok`.")
    service_id: Token = Field(description="The service asked for.")
    contract: dict[str, Any] = Field(
        description='The normalized contract: the nested dialect (`{"service": {...}}`)'
        " without empty parts."
    )
    revision: int = Field(description="The registry (KV) revision of the stored contract.")
    availability: Availability = Field(
        description="`available` while the answering router knows a live worker instance"
        " (a heartbeat within the last 15 s by default), else `unavailable`."
    )
    owner: str | None = Field(
        None,
        description="Extension: the name of the API key that registered the service;"
        " null when it was registered without one.",
    )
    instances: int | None = Field(
        None, description="Extension: live worker instances the answering router knows."
    )


class HeartbeatRejection(ReplyBody):
    """Why the last heartbeat that came for a service could not be used."""

    reason: str = Field(
        description="Why it could not be used (not JSON, a missing field, a `ts` of another"
        " form, another service's subject...)."
    )
    at: str = Field(
        description="When the last one was rejected: RFC 3339, UTC, the router's clock."
    )
    count: int = Field(
        description="Rejections for this service since the last heartbeat that was used."
    )


class ServiceSummary(ReplyBody):
    """One registered service as the registry lists it."""

    service_id: Token = Field(description="The service's id.")
    service_name: str = Field(description="The contract's service name.")
    version: str = Field(description="The contract's version.")
    capabilities: list[str] = Field(description="The capabilities the contract offers.")
    availability: Availability = Field(
        description="`available` while the answering router knows a live worker instance"
        " (a heartbeat within the last 15 s by default), else `unavailable`."
    )
    revision: int | None = Field(
        None, description="Extension: the registry (KV) revision of its contract."
    )
    last_heartbeat_rejected: HeartbeatRejection | None = Field(
        None, description="Extension: present while the last heartbeat could not be used."
    )


class ListReply(ReplyBody):
    """Registered services, by service id."""

    status: Literal["ok"] = Field(description="Always `ok`.")
    services: list[ServiceSummary] = Field(
        description="The registered services (offering `capability` when one was asked for),"
        " by service id."
    )
    count: int = Field(description="How many entries `services` has.")


class DiscoveredService(ReplyBody):
    """A service that satisfies a discovery query, ranked as routing would rank it."""

    service_id: Token = Field(description="A service that satisfies the request.")
    score: float = Field(
        description="Its contract score for the first capability asked for (or on"
        " service-level promises when none was), 0 to 1, rounded to 6 places."
    )
    service_name: str | None = Field(None, description="Extension: the contract's service name.")
    capabilities: list[str] | None = Field(
        None, description="Extension: the capabilities the contract offers."
    )
    availability: Availability | None = Field(
        None,
        description="Extension: always `available` (a service without a live worker is excluded).",
    )


class DiscoverReply(ReplyBody):
    """Matching services ranked best first; ``excluded`` gives each other service's reason."""

    status: Literal["ok"] = Field(description="Always `ok`, also when nothing matches.")
    services: list[DiscoveredService] = Field(
        description="Every service that satisfies the request, best first."
    )
    count: int = Field(description="How many entries `services` has.")
    excluded: dict[str, str] = Field(
        description="Service id -> why it was left out, for every other service considered."
    )
    excluded_codes: dict[str, ExclusionCode] | None = Field(
        None, description="Extension: service id -> the stable code of its exclusion."
    )
    registry_revision: int | None = Field(
        None, description="Extension: the registry (KV) revision the ranking was made against."
    )


class ValidateReply(ReplyBody):
    """``errors`` lists ``<path>: <message>`` lines; empty when valid."""

    status: Literal["ok"] = Field(description="Always `ok`, also when the contract is invalid.")
    is_valid: bool = Field(description="Whether the contract is valid.")
    errors: list[str] = Field(
        description="One `<path>: <message>` line per problem; empty when valid."
    )


class ServiceStats(ReplyBody):
    """What one router knows of a service beyond its contract."""

    service_id: Token = Field(description="The service's id.")
    availability: Availability = Field(
        description="`available` while the answering router knows a live worker instance"
        " (a heartbeat within the last 15 s by default), else `unavailable`."
    )
    instances: int = Field(description="Live worker instances this router knows.")
    circuit: Literal["closed", "open", "half_open"] = Field(
        description="This router's circuit breaker for the service: `open` (refusing) after"
        " repeated failed attempts (5 in a row, for 10 s by default), then `half_open` (one"
        " probe may pass) until a success closes it."
    )
    guarantee: Literal["kept", "violated", "unmeasured"] = Field(
        description="Whether its observed p95 keeps the contract's p95 bound: `unmeasured`"
        " until the router has enough recent attempts to judge."
    )
    contract: dict[str, Any] = Field(
        description="The bounds it is held to: p95_latency_ms, max_concurrent_requests,"
        " rate_limit (null when the contract states none)."
    )
    observed: dict[str, Any] = Field(
        description="This router's recent attempts (by default the last 200, none older than"
        " 5 min): samples, p50_ms, p95_ms, p99_ms (milliseconds; null without samples),"
        " error_rate (0 to 1), throughput_per_s."
    )


class StatsReply(ReplyBody):
    """Extension: contract bounds beside what the answering router observed."""

    status: Literal["ok"] = Field(description="Always `ok`.")
    scope: Literal["router"] = Field(
        description="Always `router`: the observations are the answering router's own."
    )
    services: list[ServiceStats] = Field(
        description="Every registered service (offering `capability` when one was asked"
        " for), by service id."
    )
    count: int = Field(description="How many entries `services` has.")
    rejected: dict[str, int] = Field(
        description="`heartbeat`, `registration`: how many of each this router could not use,"
        " since it started."
    )
