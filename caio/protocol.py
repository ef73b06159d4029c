"""Typed bodies of the CAIO wire protocol (PROTOCOL.md v1).

These models parse what arrives on a subject; unknown fields are ignored so
newer clients keep working, while known fields are type-checked strictly
(``"5000"`` is not a latency). Names that become subject tokens are checked
against ``SAFE_TOKEN`` here, before anything subscribes or publishes.
"""

from __future__ import annotations

import os
import time
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from caio.errors import InvalidRequest
from caio.subjects import SAFE_TOKEN

__all__ = [
    "AuditRecord",
    "Heartbeat",
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
    """Base of every request body: strict known fields, unknown ones ignored."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


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


class ServiceRequest(WireBody):
    """What the router sends to ``caio.svc.<service_id>.<capability>``.

    ``deadline_ms`` is an absolute Unix time in milliseconds: past it the
    router has stopped waiting, so a worker should not start (or go on).
    """

    request_id: str
    capability: Token
    context: dict[str, Any] = Field(default_factory=dict)
    caller: str | None = None
    deadline_ms: int | None = None


class Heartbeat(WireBody):
    """A bridge worker instance is alive (sent on start and at least every 5 s)."""

    service_id: Token
    instance_id: Annotated[str, Field(min_length=1, max_length=128)]
    ts: float
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


def validation_messages(exc: ValidationError) -> list[str]:
    """``path: message`` lines, the shape every CAIO validation error uses."""
    lines = []
    for err in exc.errors(include_url=False):
        path = ".".join(str(part) for part in err["loc"]) or "(root)"
        lines.append(f"{path}: {err['msg']}")
    return lines


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], body: dict[str, Any]) -> M:
    """Validate a decoded body, turning pydantic's errors into ``invalid_request``."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        errors = validation_messages(exc)
        raise InvalidRequest(
            "request does not match the protocol: " + "; ".join(errors[:5]),
            details={"errors": errors},
        ) from None
