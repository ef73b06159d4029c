"""Typed replies of the CAIO protocol, as the SDK returns them.

Fields the protocol names are typed; anything a newer router adds is kept
(``extra="allow"``) so an old SDK never drops information.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "DiscoveredService",
    "Discovery",
    "Registration",
    "RouteAttempt",
    "RouteResult",
    "ServiceInfo",
    "ServiceSummary",
    "Validation",
]


class _Reply(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class Registration(_Reply):
    status: str
    service_id: str
    revision: int
    message: str


class ServiceInfo(_Reply):
    service_id: str
    contract: dict[str, Any]
    revision: int
    availability: str


class ServiceSummary(_Reply):
    service_id: str
    service_name: str
    version: str
    capabilities: list[str]
    availability: str


class DiscoveredService(_Reply):
    service_id: str
    score: float


class Discovery(_Reply):
    services: list[DiscoveredService]
    count: int
    excluded: dict[str, str] = Field(default_factory=dict)


class Validation(_Reply):
    is_valid: bool
    errors: list[str]


class RouteAttempt(_Reply):
    service_id: str
    status: str
    error: dict[str, Any] | None = None


class RouteResult(_Reply):
    """A routed call's answer, or (``dry_run``) the decision alone."""

    request_id: str
    service_id: str
    capability: str
    guarantees: dict[str, Any] = Field(default_factory=dict)
    result: dict[str, Any] | None = None
    latency_ms: float | None = None
    attempts: list[RouteAttempt] = Field(default_factory=list)
    dry_run: bool = False
    candidates: list[DiscoveredService] = Field(default_factory=list)
