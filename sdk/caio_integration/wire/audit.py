"""Stream ``CAIO_AUDIT``: one record per decision, replayable by any JetStream consumer."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from caio_integration.wire._base import ReplyBody, rfc3339_now
from caio_integration.wire.route import Attempt

__all__ = ["AuditKind", "AuditOutcome", "AuditRecord"]

# "keys" and "guarantee_violation" are this implementation's additions.
AuditKind = Literal["route", "registry", "denied", "invalid", "keys", "guarantee_violation"]
AuditOutcome = Literal["ok", "error", "no_match", "denied", "invalid", "timeout"]


class AuditRecord(ReplyBody):
    """One decision, as stored in stream ``CAIO_AUDIT`` (``<prefix>.audit.<kind>.<service_id>``).

    The protocol's fields are always written, ``null`` when unknown; the
    extensions only when set.
    """

    ts: str = Field(default_factory=rfc3339_now, description="RFC 3339, UTC, microseconds.")
    kind: AuditKind
    request_id: str | None = None
    caller: str | None = Field(None, description="The API key's name; null when unknown.")
    capability: str | None = None
    service_id: str | None = None
    outcome: AuditOutcome
    decision: dict[str, Any] | None = Field(
        None,
        description="Routes: candidates, excluded (with excluded_codes), registry_revision,"
        " pool; registry changes: action, registry_revision.",
    )
    latency_ms: float | None = None
    error: dict[str, Any] | None = None
    attempts: list[Attempt] | None = Field(
        None, description="Extension: forwarded requests' attempts."
    )
    dry_run: bool | None = Field(None, description="Extension: a dry run's record.")
    operation: str | None = Field(
        None, description="Extension: the registry or keys operation of a refused request."
    )
    job: dict[str, Any] | None = Field(
        None, description="Extension: a durable job's record (dead letter, subject)."
    )

    def model_post_init(self, context: Any, /) -> None:
        # The protocol's fields are sent even when null: count them as set.
        self.__pydantic_fields_set__.update(PROTOCOL_FIELDS)


PROTOCOL_FIELDS = frozenset(
    {
        "ts",
        "kind",
        "request_id",
        "caller",
        "capability",
        "service_id",
        "outcome",
        "decision",
        "latency_ms",
        "error",
    }
)
