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
        None, description="Only services in one of these places; narrows route constraints."
    )
    hipaa_compliant: bool = Field(False, description="Only HIPAA-compliant services.")
    requests_per_minute: Annotated[int, Field(gt=0)] | None = Field(
        None, description="Route requests per minute across all routers (`rate_limited`)."
    )


class KeyCreateRequest(RequestBody):
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
    expires_in_s: Annotated[float, Field(gt=0)] | None = Field(
        None, description="Absent: never expires."
    )
    policy: KeyPolicy = Field(default_factory=KeyPolicy)


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

    key_id: str
    name: Token
    role: Role
    capabilities: list[Token] | None = Field(description="null: every capability.")
    services: list[ServiceGlob] | None = Field(description="null: every service.")
    policy: KeyPolicy
    created_at: float = Field(description="Unix time in seconds.")
    expires_at: float | None = Field(description="Unix time in seconds; null: never.")
    revoked_at: float | None = Field(description="Unix time in seconds; null: not revoked.")


class KeyCreateReply(ApiKeyInfo):
    """The new key: its secret (the only time it appears) and its public fields."""

    status: Literal["created"]
    secret: str = Field(description="The key's secret: shown in this reply only, never stored.")


class KeyListReply(ReplyBody):
    """Every key, by name, without secrets."""

    status: Literal["ok"]
    keys: list[ApiKeyInfo]
    count: int


class KeyRevokeReply(ReplyBody):
    """The key no longer authenticates, on every router."""

    status: Literal["revoked"]
    key_id: str
    name: Token
