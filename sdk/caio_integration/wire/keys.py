"""``<prefix>.keys.<operation>``: API key administration (admin keys only)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, ConfigDict, Field

from caio_integration.wire._base import ReplyBody, RequestBody, Token, WireBody

__all__ = [
    "ApiKeyInfo",
    "KeyCreateReply",
    "KeyCreateRequest",
    "KeyListReply",
    "KeyListRequest",
    "KeyPolicy",
    "KeyRevokeReply",
    "KeyRevokeRequest",
    "Role",
    "ServiceGlob",
]

Role = Literal["caller", "publisher", "admin"]
# A service glob: subject-token characters plus * and ? (never '.', '>' or spaces).
_GLOB = re.compile(r"^[a-z0-9*?][a-z0-9_*?-]{0,63}$")


def _safe_glob(value: str) -> str:
    if not _GLOB.fullmatch(value):
        raise ValueError(f"{value!r} is not a service id glob (a-z, 0-9, _, -, *, ?)")
    return value


ServiceGlob = Annotated[
    str, AfterValidator(_safe_glob), Field(json_schema_extra={"pattern": _GLOB.pattern})
]


class KeyPolicy(WireBody):
    """Limits that travel with a key and that its requests cannot lift."""

    data_locality: list[str] | None = Field(
        None,
        description="Only services in one of these places: a route request's `data_locality`"
        " is narrowed to them (`forbidden` when none is left). Absent: no restriction.",
    )
    hipaa_compliant: bool = Field(
        False, description="true: the key's route requests reach only HIPAA-compliant services."
    )
    requests_per_minute: Annotated[int, Field(gt=0)] | None = Field(
        None,
        description="Route requests per minute across all routers (`rate_limited`)."
        " Absent: no limit.",
    )
    budget_per_day: Annotated[float, Field(gt=0)] | None = Field(
        None,
        description="Extension: what the key's answered routes may cost per UTC day, across"
        " all routers; once spent, `budget_exceeded` until the day ends. Absent: no budget.",
    )
    budget_per_month: Annotated[float, Field(gt=0)] | None = Field(
        None,
        description="Extension: the same per UTC calendar month.",
    )


class KeyCreateRequest(RequestBody):
    """Create an API key; its secret is in the reply and nowhere else."""

    name: Token = Field(
        description="The key's name, unique among keys that are not revoked; it is the `caller`"
        " of the key's service requests and audit records."
    )
    role: Role = Field(
        description="`caller`: route, list, get, discover, validate; `publisher`: also"
        " register/deregister services matching `services` that it owns; `admin`: everything."
    )
    capabilities: list[Token] | None = Field(
        None, description="Capabilities the key may route to; absent: every capability."
    )
    services: list[ServiceGlob] | None = Field(
        None,
        description="Service id globs (`*`, `?`) the key may route to and, as a publisher,"
        " register; absent: every service.",
    )
    expires_in_s: Annotated[float, Field(gt=0)] | None = Field(
        None, description="Seconds from now until the key expires; absent: never expires."
    )
    policy: KeyPolicy = Field(
        default_factory=KeyPolicy, description="Limits applied to the key's route requests."
    )


class KeyListRequest(RequestBody):
    """``{}``: every key, revoked ones included, without secrets."""


class KeyRevokeRequest(RequestBody):
    """Revoke a key (kept, marked revoked) and free its name."""

    key: Annotated[str, Field(min_length=1, max_length=64)] = Field(
        description="A key name or key id."
    )


class ApiKeyInfo(ReplyBody):
    """A key as ``keys.list`` shows it: never its secret or the secret's hash."""

    model_config = ConfigDict(extra="allow")

    key_id: str = Field(
        description="The key's id (12 hex digits), also part of its secret"
        " (`caio_<key_id>_<random>`)."
    )
    name: Token = Field(
        description="The key's name: the `caller` of service requests and audit records."
    )
    role: Role = Field(description="`caller`, `publisher` or `admin` (see `keys.create`).")
    capabilities: list[Token] | None = Field(
        description="Capabilities the key may route to; null: every capability."
    )
    services: list[ServiceGlob] | None = Field(
        description="Service id globs (`*`, `?`) the key may route to and, as a publisher,"
        " register; null: every service."
    )
    policy: KeyPolicy = Field(description="Limits applied to the key's route requests.")
    created_at: float = Field(description="Unix time in seconds.")
    expires_at: float | None = Field(description="Unix time in seconds; null: never.")
    revoked_at: float | None = Field(description="Unix time in seconds; null: not revoked.")


class KeyCreateReply(ApiKeyInfo):
    """The new key: its secret (the only time it appears) and its public fields."""

    status: Literal["created"] = Field(description="Always `created`.")
    secret: str = Field(description="The key's secret: shown in this reply only, never stored.")


class KeyListReply(ReplyBody):
    """Every key, by name, without secrets."""

    status: Literal["ok"] = Field(description="Always `ok`.")
    keys: list[ApiKeyInfo] = Field(
        description="Every key, revoked ones included, by name (then creation time)."
    )
    count: int = Field(description="How many entries `keys` has.")


class KeyRevokeReply(ReplyBody):
    """The key no longer authenticates, on every router."""

    status: Literal["revoked"] = Field(
        description="Always `revoked`, also when the key already was."
    )
    key_id: str = Field(description="The revoked key's id.")
    name: Token = Field(description="The revoked key's name, now free for a new key.")
