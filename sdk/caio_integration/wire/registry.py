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

    contract: _Contract = None
    contract_yaml: _ContractYaml = None
    replace: bool = Field(
        False, description="Replace a registered contract that differs instead of `conflict`."
    )


class ValidateRequest(RequestBody):
    """Validate a contract without registering it: ``contract`` or ``contract_yaml``."""

    contract: _Contract = None
    contract_yaml: _ContractYaml = None


class ServiceIdRequest(RequestBody):
    """Names one registered service (``deregister``, ``get``)."""

    service_id: Token


class ListRequest(RequestBody):
    """``{}`` lists every service; ``capability`` keeps those offering it."""

    capability: Token | None = None


class StatsRequest(ListRequest):
    """Extension: this router's observations, for every service or one capability's."""


class DiscoverRequest(RequestBody):
    """Rank services against requirements without routing; an empty ``capabilities``
    considers every service (extension)."""

    capabilities: list[Token] = Field(default_factory=list)
    guarantees: RouteGuarantees = Field(default_factory=RouteGuarantees)
    constraints: RouteConstraints = Field(default_factory=RouteConstraints)


class RegisterReply(ReplyBody):
    """The contract is stored; ``revision`` is its registry (KV) revision."""

    status: Literal["registered"]
    service_id: Token
    revision: int
    message: str
    action: Literal["registered", "replaced", "unchanged"] | None = Field(
        None, description="Extension: what the registration changed."
    )


class DeregisterReply(ReplyBody):
    """The service is gone from the registry."""

    status: Literal["deregistered"]
    service_id: Token
    revision: int | None = Field(None, description="Extension: the delete marker's revision.")


class GetReply(ReplyBody):
    """One service's normalized contract and availability."""

    status: Literal["ok"]
    service_id: Token
    contract: dict[str, Any]
    revision: int
    availability: Availability
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

    reason: str
    at: str = Field(description="RFC 3339, the router's clock.")
    count: int = Field(description="Rejections since the last heartbeat that was used.")


class ServiceSummary(ReplyBody):
    service_id: Token
    service_name: str
    version: str
    capabilities: list[str]
    availability: Availability
    revision: int | None = Field(None, description="Extension.")
    last_heartbeat_rejected: HeartbeatRejection | None = Field(
        None, description="Extension: present while the last heartbeat could not be used."
    )


class ListReply(ReplyBody):
    """Registered services, by service id."""

    status: Literal["ok"]
    services: list[ServiceSummary]
    count: int


class DiscoveredService(ReplyBody):
    service_id: Token
    score: float
    service_name: str | None = Field(None, description="Extension.")
    capabilities: list[str] | None = Field(None, description="Extension.")
    availability: Availability | None = Field(None, description="Extension.")


class DiscoverReply(ReplyBody):
    """Matching services ranked best first; ``excluded`` gives each other service's reason."""

    status: Literal["ok"]
    services: list[DiscoveredService]
    count: int
    excluded: dict[str, str]
    excluded_codes: dict[str, ExclusionCode] | None = Field(
        None, description="Extension: the stable code of each exclusion."
    )
    registry_revision: int | None = Field(None, description="Extension.")


class ValidateReply(ReplyBody):
    """``errors`` lists ``<path>: <message>`` lines; empty when valid."""

    status: Literal["ok"]
    is_valid: bool
    errors: list[str]


class ServiceStats(ReplyBody):
    """What one router knows of a service beyond its contract."""

    service_id: Token
    availability: Availability
    instances: int
    circuit: Literal["closed", "open", "half_open"]
    guarantee: Literal["kept", "violated", "unmeasured"] = Field(
        description="`unmeasured` until the router has enough recent attempts to judge."
    )
    contract: dict[str, Any] = Field(
        description="The bounds it is held to: p95_latency_ms, max_concurrent_requests, rate_limit."
    )
    observed: dict[str, Any] = Field(
        description="samples, p50_ms, p95_ms, p99_ms, error_rate, throughput_per_s."
    )


class StatsReply(ReplyBody):
    """Extension: contract bounds beside what the answering router observed."""

    status: Literal["ok"]
    scope: Literal["router"]
    services: list[ServiceStats]
    count: int
    rejected: dict[str, int] = Field(
        description="Heartbeats and registrations this router could not use, since it started."
    )
