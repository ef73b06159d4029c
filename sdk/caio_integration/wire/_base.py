"""Typed bodies of the CAIO wire protocol (PROTOCOL.md v1).

These models parse what arrives on a subject, strictly: known fields are
type-checked (``"5000"`` is not a latency) and an unknown field in a request
is refused with its name and the field that was probably meant, because a
misspelled constraint that is ignored routes without that constraint.
Messages a peer sends on its own initiative (heartbeats, service requests)
keep ignoring unknown fields, so workers in any language may add their own.
Names that become subject tokens are checked against ``SAFE_TOKEN`` here,
before anything subscribes or publishes.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
)

from caio_integration.errors import InvalidRequest
from caio_integration.subjects import SAFE_TOKEN
from caio_integration.wire._unknown_fields import suggest, unknown_field_message

__all__ = [
    "AuditRecord",
    "Heartbeat",
    "PeerBody",
    "RequestBody",
    "RouteConstraints",
    "RouteGuarantees",
    "RouteRequest",
    "ServiceRequest",
    "Token",
    "WireBody",
    "new_request_id",
    "now_ms",
    "parse",
    "validation_messages",
]


def _safe_token(value: str) -> str:
    if not SAFE_TOKEN.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a safe name: use 1-64 of a-z, 0-9, '_' or '-', "
            "starting with a letter or digit"
        )
    return value


Token = Annotated[str, AfterValidator(_safe_token)]
NonNegative = Annotated[float, Field(ge=0)]


class WireBody(BaseModel):
    """Base of every request body: strict known fields, unknown ones refused."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class PeerBody(BaseModel):
    """Base of what peers send unasked (heartbeats, service requests): unknown fields ignored."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


def epoch_seconds(value: object) -> object:
    """A timestamp as epoch seconds: RFC 3339 text (``2026-12-01T10:00:00Z``) or a number.

    Both are the protocol's (PROTOCOL.md, "Liveness"): JavaScript's
    ``toISOString()``, Go's ``time.RFC3339`` and Python's ``isoformat()``
    all print the first. Anything else is left for the float check to refuse.
    """
    if not isinstance(value, str):
        return value
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"{value[:40]!r} is not an RFC 3339 time (e.g. 2026-12-01T10:00:00Z) nor epoch seconds"
        ) from None
    if parsed.tzinfo is None:
        raise ValueError(f"{value[:40]!r} has no time zone: end it with Z or an offset")
    return parsed.timestamp()


EpochSeconds = Annotated[
    float,
    BeforeValidator(epoch_seconds),
    WithJsonSchema(
        {
            "anyOf": [{"type": "string", "format": "date-time"}, {"type": "number"}],
            "description": "RFC 3339 time (2026-12-01T10:00:00Z) or epoch seconds",
        }
    ),
]


class RequestBody(WireBody):
    """A registry or keys request: its own fields plus an optional ``request_id``."""

    request_id: Annotated[str, Field(min_length=1, max_length=128)] | None = None


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
    """What a caller sends to ``caio.route.<capability>``."""

    request_id: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    requirements: list[Token] = Field(default_factory=list)
    guarantees: RouteGuarantees = Field(default_factory=RouteGuarantees)
    constraints: RouteConstraints = Field(default_factory=RouteConstraints)
    context: dict[str, Any] = Field(default_factory=dict)
    timeout_ms: Annotated[int, Field(gt=0, le=3_600_000)] = 30_000
    dry_run: bool = False


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


AuditKind = Literal["route", "registry", "denied", "invalid", "keys"]  # "keys": extension
AuditOutcome = Literal["ok", "error", "no_match", "denied", "invalid", "timeout"]


class AuditRecord(BaseModel):
    """One decision, as stored in stream ``CAIO_AUDIT``."""

    model_config = ConfigDict(extra="allow")

    ts: str
    kind: AuditKind
    request_id: str | None
    caller: str | None
    capability: str | None
    service_id: str | None
    outcome: AuditOutcome
    decision: dict[str, Any] | None = None
    latency_ms: float | None = None
    error: dict[str, Any] | None = None


def new_request_id() -> str:
    # 128 random bits as 32 hex digits, like uuid4().hex at a fraction of its cost.
    return os.urandom(16).hex()


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def validation_messages(exc: ValidationError, model: type[BaseModel] | None = None) -> list[str]:
    """``path: message`` lines, the shape every CAIO validation error uses.

    With the ``model`` that refused the body, an unknown field's line names
    the field that was probably meant.
    """
    lines = []
    for err in exc.errors(include_url=False):
        if err["type"] == "extra_forbidden" and model is not None:
            lines.append(unknown_field_message(model, tuple(err["loc"])))
            continue
        path = ".".join(str(part) for part in err["loc"]) or "(root)"
        lines.append(f"{path}: {err['msg'].removeprefix('Value error, ')}")
    return lines


def unknown_fields(exc: ValidationError, model: type[BaseModel]) -> dict[str, str | None]:
    """Each unknown field's path, with the field probably meant (or None)."""
    return {
        ".".join(str(part) for part in err["loc"]): suggest(model, tuple(err["loc"]))
        for err in exc.errors(include_url=False)
        if err["type"] == "extra_forbidden"
    }


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], body: dict[str, Any]) -> M:
    """Validate a decoded body, turning pydantic's errors into ``invalid_request``."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        errors = validation_messages(exc, model)
        details: dict[str, Any] = {"errors": errors}
        unknown = unknown_fields(exc, model)
        if unknown:
            details["unknown_fields"] = unknown  # path -> the field probably meant
        raise InvalidRequest(
            "request does not match the protocol: " + "; ".join(errors[:5]), details=details
        ) from None
