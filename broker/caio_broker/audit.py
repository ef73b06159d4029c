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
import functools
import time
from dataclasses import dataclass
from typing import Any

import structlog
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import BadRequestError

from caio_broker.replymux import Requester, js_publish
from caio_integration._json import dumps
from caio_integration.errors import CAIOError
from caio_integration.subjects import Subjects

__all__ = ["AuditLog", "AuditSettings", "AuditUnavailable"]

log = structlog.get_logger("caio.audit")


class AuditUnavailable(CAIOError):
    """The audit stream did not store a record: no answer may claim a recorded decision."""

    default_retryable = True


@dataclass(frozen=True, slots=True)
class AuditSettings:
    max_age_days: float = 30.0
    replicas: int = 1
    publish_timeout_s: float = 5.0


@functools.lru_cache(maxsize=2)
def _utc_second(second: int) -> str:
    return dt.datetime.fromtimestamp(second, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")


def rfc3339_now() -> str:
    """Now in UTC with microseconds, e.g. ``2026-11-22T23:38:08.123456Z``.

    Every audit record needs one; formatting a datetime each time was a
    visible cost on the route path, so each second is formatted once and
    the microseconds appended.
    """
    second, micros = divmod(time.time_ns() // 1000, 1_000_000)
    return f"{_utc_second(second)}.{micros:06d}Z"


class AuditLog:
    __slots__ = ("_js", "_requests", "_settings", "_subjects")

    def __init__(
        self,
        js: JetStreamContext,
        subjects: Subjects,
        settings: AuditSettings,
        requests: Requester,
    ) -> None:
        self._js = js
        self._subjects = subjects
        self._settings = settings
        # A JetStream publish is a request whose reply is the ack; the router's
        # ReplyMux sends it for less CPU than ``js.publish`` (see caio_broker.replymux).
        self._requests = requests

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
            await js_publish(
                self._requests, subject, dumps(record), self._settings.publish_timeout_s
            )
        except Exception as exc:  # any failure means "not recorded"
            log.error("audit_write_failed", subject=subject, error=repr(exc))
            raise AuditUnavailable(
                "the audit log did not store this decision, so no answer is given; retry",
                request_id=request_id,
            ) from exc
