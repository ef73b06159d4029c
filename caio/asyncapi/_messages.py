"""Message models of the CAIO protocol that caio_integration.wire does not define.

Registry and key administration request and reply bodies, route and service
replies and the authentication header, as docs/protocol.md describes them;
``caio.asyncapi`` turns them into the AsyncAPI document's schemas. Fields
marked "Extension" are this implementation's additions (docs/protocol.md,
second part).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from caio_integration.errors import STABLE_CODES
from caio_integration.subjects import SAFE_TOKEN
from caio_integration.wire import Heartbeat, RouteConstraints, RouteGuarantees

Token = Annotated[str, Field(pattern=SAFE_TOKEN.pattern)]
Availability = Literal["available", "unavailable"]
Role = Literal["caller", "publisher", "admin"]
# A service id glob on a key: token characters plus * and ? (broker/auth/keys.py).
ServiceGlob = Annotated[str, Field(pattern=r"^[a-z0-9*?][a-z0-9_*?-]{0,63}$")]

# -- headers -------------------------------------------------------------------


class AuthorizationHeaders(BaseModel):
    """NATS headers of every request a router authenticates (registry, route, keys)."""

    authorization: str = Field(
        alias="Authorization",
        pattern=r"^Bearer \S+$",
        description="`Bearer <key>`, the secret of an API key (`caio_<key_id>_<random>`)."
        " Without it, or with a key that is unknown, revoked or expired, the reply is"
        " `unauthenticated`. A router started with `--insecure-no-auth` accepts requests"
        " without it.",
    )


# -- registry request bodies -----------------------------------------------


class RegisterRequest(BaseModel):
    """Register a contract: exactly one of `contract` (the YAML contract as a JSON
    object, nested or flat dialect) or `contract_yaml` (its text)."""

    contract: dict[str, Any] | None = None
    contract_yaml: str | None = None
    replace: bool = Field(
        False, description="Replace a registered contract that differs instead of `conflict`."
    )
    request_id: str | None = Field(None, description="Extension: goes into the audit record.")


class ServiceIdRequest(BaseModel):
    """Names one registered service."""

    service_id: Token
    request_id: str | None = Field(None, description="Extension: goes into the audit record.")


class ListRequest(BaseModel):
    """`{}` lists every service; `capability` keeps those offering it."""

    capability: Token | None = None


class DiscoverRequest(BaseModel):
    """Rank services against requirements without routing; an empty `capabilities`
    considers every service (extension)."""

    capabilities: list[Token] = Field(default_factory=list)
    guarantees: RouteGuarantees = Field(default_factory=RouteGuarantees)
    constraints: RouteConstraints = Field(default_factory=RouteConstraints)


class ValidateRequest(BaseModel):
    """Validate a contract without registering it: `contract` or `contract_yaml`."""

    contract: dict[str, Any] | None = None
    contract_yaml: str | None = None


# -- replies -----------------------------------------------------------------


# From STABLE_CODES itself, so a new error class shows up here (and in the drift test).
_ERROR_CODES: list[JsonValue] = [*sorted(STABLE_CODES)]


class ErrorBody(BaseModel):
    """The `error` object of an error reply."""

    code: str = Field(
        description="A stable error code.",
        json_schema_extra={"enum": _ERROR_CODES},
    )
    message: str = Field(description="A human sentence.")
    details: dict[str, Any]
    retryable: bool | None = Field(
        None,
        description="Present and true when trying again (or the next candidate) can help.",
    )


class ErrorReply(BaseModel):
    """What every request-reply subject answers on failure; it never stays silent."""

    status: Literal["error"]
    request_id: str | None = Field(None, description="Present when known.")
    error: ErrorBody
    attempts: list[RouteAttemptEntry] | None = Field(
        None, description="Extension, route replies: every attempt when none succeeded."
    )


class RegisterReply(BaseModel):
    """The contract is stored; `revision` is its registry (KV) revision."""

    status: Literal["registered"]
    service_id: Token
    revision: int
    message: str
    action: Literal["registered", "replaced", "unchanged"] | None = Field(
        None, description="Extension: what the registration changed."
    )


class DeregisterReply(BaseModel):
    """The service is gone from the registry."""

    status: Literal["deregistered"]
    service_id: Token
    revision: int | None = Field(None, description="Extension: the delete marker's revision.")


class GetReply(BaseModel):
    """One service's normalized contract and availability."""

    status: Literal["ok"]
    service_id: Token
    contract: dict[str, Any]
    revision: int
    availability: Availability
    instances: list[str] | None = Field(
        None, description="Extension: live worker instances the answering router knows."
    )
    owner: str | None = Field(
        None,
        description="Extension: the name of the API key that registered the service;"
        " null when it was registered without one.",
    )


class ServiceSummary(BaseModel):
    service_id: Token
    service_name: str
    version: str
    capabilities: list[str]
    availability: Availability
    revision: int | None = Field(None, description="Extension.")


class ListReply(BaseModel):
    """Registered services, by service id."""

    status: Literal["ok"]
    services: list[ServiceSummary]
    count: int


class DiscoveredService(BaseModel):
    service_id: Token
    score: float
    service_name: str | None = Field(None, description="Extension.")
    capabilities: list[str] | None = Field(None, description="Extension.")
    availability: Availability | None = Field(None, description="Extension.")


class DiscoverReply(BaseModel):
    """Matching services ranked best first; `excluded` gives each other service's reason."""

    status: Literal["ok"]
    services: list[DiscoveredService]
    count: int
    excluded: dict[str, str]
    registry_revision: int | None = Field(None, description="Extension.")


class ValidateReply(BaseModel):
    """`errors` lists `<path>: <message>` lines; empty when valid."""

    status: Literal["ok"]
    is_valid: bool
    errors: list[str]


class RouteAttemptEntry(BaseModel):
    """One forward to one candidate service."""

    service_id: Token
    status: Literal["ok", "error", "timeout", "no_responders"]
    error: dict[str, Any] | None = None
    latency_ms: float | None = Field(None, description="Extension.")


class RouteReply(BaseModel):
    """The chosen service's answer, with the guarantees of its contract."""

    status: Literal["ok"]
    request_id: str
    service_id: Token
    capability: Token
    guarantees: dict[str, Any]
    result: dict[str, Any] | None
    latency_ms: float
    attempts: list[RouteAttemptEntry]
    usage: dict[str, Any] | None = Field(
        None, description="Extension: when the service returned one."
    )


class Candidate(BaseModel):
    service_id: Token
    score: float


class DryRunReply(BaseModel):
    """`dry_run: true`: the decision alone; no service was called."""

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
    registry_revision: int | None = Field(None, description="Extension.")
    pool: int | None = Field(None, description="Extension: how many services offer the capability.")


class ServiceReply(BaseModel):
    """A bridge worker's answer to the router."""

    status: Literal["ok"]
    result: dict[str, Any]
    usage: dict[str, Any] | None = None


# -- key administration (admin keys only) ------------------------------------


class KeyPolicy(BaseModel):
    """Limits that travel with a key and that its requests cannot lift."""

    model_config = ConfigDict(extra="forbid")

    data_locality: list[str] | None = Field(
        None, description="Only services in one of these places; narrows route constraints."
    )
    hipaa_compliant: bool = Field(False, description="Only HIPAA-compliant services.")
    requests_per_minute: int | None = Field(
        None, gt=0, description="Route requests per minute across all routers (`rate_limited`)."
    )


class KeyCreateRequest(BaseModel):
    """Create an API key; its secret is in the reply and nowhere else."""

    name: Token = Field(description="Unique among keys that are not revoked.")
    role: Role = Field(
        description="`caller`: route, list, get, discover, validate; `publisher`: also"
        " register/deregister services matching `services` that it owns; `admin`: everything."
    )
    capabilities: list[Token] | None = Field(None, description="Absent: every capability.")
    services: list[ServiceGlob] | None = Field(
        None, description="Service id globs (`*`, `?`); absent: every service."
    )
    expires_in_s: float | None = Field(None, gt=0, description="Absent: never expires.")
    policy: KeyPolicy = Field(default_factory=KeyPolicy)
    request_id: str | None = Field(None, description="Extension: goes into the audit record.")


class KeyListRequest(BaseModel):
    """`{}`: every key, revoked ones included, without secrets."""


class KeyRevokeRequest(BaseModel):
    """Revoke a key (kept, marked revoked) and free its name."""

    key: str = Field(min_length=1, max_length=64, description="A key name or key id.")
    request_id: str | None = Field(None, description="Extension: goes into the audit record.")


class ApiKeyInfo(BaseModel):
    """A key as `keys.list` shows it: never its secret or the secret's hash."""

    key_id: str
    name: Token
    role: Role
    capabilities: list[Token] | None = Field(description="null: every capability.")
    services: list[ServiceGlob] | None = Field(description="null: every service.")
    policy: KeyPolicy
    created_at: float = Field(description="Unix time in seconds.")
    expires_at: float | None = Field(description="Unix time in seconds; null: never.")
    revoked_at: float | None = Field(description="Unix time in seconds; null: not revoked.")


class _Created(BaseModel):
    status: Literal["created"]
    secret: str = Field(description="The key's secret: shown in this reply only, never stored.")


# Fields come base by base from the last base, so `status` and `secret` lead.
class KeyCreateReply(ApiKeyInfo, _Created):
    """The new key: its secret (the only time it appears) and its public fields."""


class KeyListReply(BaseModel):
    """Every key, by name, without secrets."""

    status: Literal["ok"]
    keys: list[ApiKeyInfo]
    count: int


class KeyRevokeReply(BaseModel):
    """The key no longer authenticates, on every router."""

    status: Literal["revoked"]
    key_id: str
    name: Token


class HeartbeatMessage(Heartbeat):
    """A bridge worker instance is alive (sent on start and at least every 5 s)."""


# ErrorReply refers to RouteAttemptEntry, defined after it.
ErrorReply.model_rebuild()
