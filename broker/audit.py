"""The audit log: one JetStream record per decision, acknowledged before any reply.

Records go to ``<prefix>.audit.<kind>.<service_id or _>`` in stream
``CAIO_AUDIT``, so a replay can filter by kind or service on the server
side. ``record`` returns only after the JetStream ack: a caller never sees
an answer whose decision is not stored. If the stream cannot take the
record, the caller gets an ``internal`` error instead of an unrecorded
answer.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import structlog
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import BadRequestError

from caio.errors import CAIOError
from caio.jsonwire import dumps
from caio.subjects import Subjects

__all__ = ["AuditLog", "AuditSettings"]

log = structlog.get_logger("caio.audit")


@dataclass(frozen=True, slots=True)
class AuditSettings:
    max_age_days: float = 30.0
    replicas: int = 1
    publish_timeout_s: float = 5.0


def rfc3339_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class AuditLog:
    __slots__ = ("_js", "_settings", "_subjects")

    def __init__(self, js: JetStreamContext, subjects: Subjects, settings: AuditSettings) -> None:
        self._js = js
        self._subjects = subjects
        self._settings = settings

    async def ensure_stream(self) -> None:
        """Create the stream, or bring an existing one's settings up to date."""
        config = StreamConfig(
            name=self._subjects.audit_stream,
            subjects=[self._subjects.audit_all],
            storage=StorageType.FILE,
            max_age=self._settings.max_age_days * 86_400,
            num_replicas=self._settings.replicas,
            description="CAIO audit: one record per routing decision and registry change",
        )
        try:
            await self._js.add_stream(config)
        except BadRequestError:
            # Exists with other settings (another router, an older CAIO): align it.
            await self._js.update_stream(config)

    async def record(
        self,
        *,
        kind: str,
        outcome: str,
        request_id: str | None,
        caller: str | None = None,
        capability: str | None = None,
        service_id: str | None = None,
        decision: dict[str, Any] | None = None,
        latency_ms: float | None = None,
        error: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """Store one record and wait for its ack; raises ``CAIOError`` if it is not stored."""
        record: dict[str, Any] = {
            "ts": rfc3339_now(),
            "kind": kind,
            "request_id": request_id,
            "caller": caller,
            "capability": capability,
            "service_id": service_id,
            "outcome": outcome,
            "decision": decision,
            "latency_ms": latency_ms,
            "error": error,
        }
        if extra:
            record.update(extra)
        subject = self._subjects.audit(kind, service_id)
        try:
            await self._js.publish(subject, dumps(record), timeout=self._settings.publish_timeout_s)
        except Exception as exc:  # any failure means "not recorded"
            log.error("audit_write_failed", subject=subject, error=repr(exc))
            raise CAIOError(
                "the audit log did not store this decision, so no answer is given; retry",
                retryable=True,
                request_id=request_id,
            ) from exc
