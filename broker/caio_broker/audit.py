"""The audit log: one JetStream record per decision, acknowledged before any reply.

Records go to ``<prefix>.audit.<kind>.<service_id or _>`` in stream
``CAIO_AUDIT``, so a replay can filter by kind or service on the server
side. ``record`` returns only after the JetStream ack: a caller never sees
an answer whose decision is not stored. If the stream cannot take the
record, the caller gets an ``internal`` error instead of an unrecorded
answer.

Each record is linked into this router's hash chain (caio_integration.auditchain)
before it is sent, and the stream refuses single deletes and purges, so
``caio audit verify`` finds a record altered, removed or slipped in. A
record that was not stored leaves its place in the chain to an ``audit_gap``
record, sent in the background until the stream takes it.

"No responders" on the stream's subject means no server took the record:
on a cluster that is the stream between leaders (a node was lost and its
replicas are electing one, a few seconds at most). Such a publish is
retried with backoff for a bounded time, since it is known not to be
stored; a timeout is not retried, as that record may have been stored.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import BadRequestError, NoStreamResponseError

from caio_broker.replymux import Requester, js_publish
from caio_integration.auditchain import ChainWriter
from caio_integration.defaults import LEADERLESS_BACKOFF_S
from caio_integration.errors import CAIOError
from caio_integration.subjects import Subjects
from caio_integration.tracing import span
from caio_integration.wire import AuditRecord, rfc3339_now

if TYPE_CHECKING:
    from caio_broker.metrics import RouterMetrics

__all__ = ["AuditLog", "AuditSettings", "AuditUnavailable", "rfc3339_now"]

log = structlog.get_logger("caio.audit")


class AuditUnavailable(CAIOError):
    """The audit stream did not store a record: no answer may claim a recorded decision."""

    default_retryable = True


@dataclass(frozen=True, slots=True)
class AuditSettings:
    max_age_days: float = 30.0
    replicas: int = 1
    publish_timeout_s: float = 5.0
    # Waits between tries while the stream has no leader (caio_integration.defaults).
    leaderless_backoff_s: tuple[float, ...] = LEADERLESS_BACKOFF_S
    # Waits between tries of an audit_gap record, the last one repeated until stored.
    gap_backoff_s: tuple[float, ...] = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)


class AuditLog:
    __slots__ = ("_chain", "_gaps", "_js", "_requests", "_settings", "_subjects", "metrics")

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
        self._chain = ChainWriter()
        self._gaps: set[asyncio.Task[None]] = set()  # audit_gap records not stored yet
        # Fed every stored record (caio_broker.metrics), when the router serves metrics.
        self.metrics: RouterMetrics | None = None

    @property
    def chain_id(self) -> str:
        return self._chain.id

    async def ensure_stream(self) -> None:
        """Create the stream, or bring an existing one's settings up to date."""
        config = StreamConfig(
            name=self._subjects.audit_stream,
            subjects=[self._subjects.audit_all],
            storage=StorageType.FILE,
            max_age=self._settings.max_age_days * 86_400,
            num_replicas=self._settings.replicas,
            description="CAIO audit: one record per routing decision and registry change",
            # Records leave by age only: no one (not an admin) deletes or purges one.
            # The server refuses to switch these off again once set.
            deny_delete=True,
            deny_purge=True,
        )
        try:
            await self._js.add_stream(config)
        except BadRequestError:
            # Exists with other settings (another router, an older CAIO): align it, but
            # never lower its replicas (a router started without --replicas must not
            # scale a cluster's R3 audit stream down).
            existing = await self._js.stream_info(self._subjects.audit_stream)
            current = existing.config.num_replicas or 1
            config.num_replicas = max(current, config.num_replicas or 1)
            await self._js.update_stream(config)

    async def record(self, record: AuditRecord | dict[str, Any]) -> None:
        """Store one record and wait for its ack; ``AuditUnavailable`` if it is not stored.

        A record is a model, or on the route path the JSON object of one
        (``RouteCall.record``); either way the stream gets the same shape.
        """
        fields = record if isinstance(record, dict) else record.to_dict()
        subject = self._subjects.audit(fields["kind"], fields["service_id"])
        data, place = self._chain.link(fields)
        started = time.perf_counter()
        try:
            with span("caio.audit", None):
                await self._publish(subject, data)
        except Exception as exc:  # any failure means "not recorded"
            log.error("audit_write_failed", subject=subject, error=repr(exc))
            if self.metrics is not None:
                self.metrics.audit_failed()
            gap = ChainWriter.gap(place, data, fields, f"not stored ({type(exc).__name__})")
            self._send_gap(subject, gap, place)
            raise AuditUnavailable(
                "the audit log did not store this decision, so no answer is given; retry",
                request_id=fields["request_id"],
            ) from exc
        if self.metrics is not None:
            self.metrics.audited(fields, time.perf_counter() - started)

    async def _publish(self, subject: str, payload: bytes) -> None:
        timeout_s = self._settings.publish_timeout_s
        for wait_s in (*self._settings.leaderless_backoff_s, None):
            try:
                await js_publish(self._requests, subject, payload, timeout_s)
                return
            except NoStreamResponseError:
                if wait_s is None:
                    raise
                log.warning("audit_stream_leaderless", subject=subject, retry_in_s=wait_s)
                await asyncio.sleep(wait_s)

    def _send_gap(self, subject: str, gap: bytes, place: dict[str, Any]) -> None:
        task = asyncio.create_task(self._store_gap(subject, gap, place))
        self._gaps.add(task)
        task.add_done_callback(self._gaps.discard)

    async def _store_gap(self, subject: str, gap: bytes, place: dict[str, Any]) -> None:
        backoff = self._settings.gap_backoff_s
        for attempt in itertools.count():
            try:
                await self._publish(subject, gap)
                log.warning("audit_gap_recorded", chain=place["id"], seq=place["seq"])
                return
            except Exception as exc:  # noqa: BLE001 - kept trying until stored or stopped
                where = {"chain": place["id"], "seq": place["seq"]}
                log.warning("audit_gap_not_stored_yet", **where, error=repr(exc))
                await asyncio.sleep(backoff[min(attempt, len(backoff) - 1)])

    async def close(self, timeout_s: float = 2.0) -> None:
        """Give unsent gap records a last moment; what is still unsent is logged, and
        ``caio audit verify`` will report those places as missing."""
        if not self._gaps:
            return
        _, pending = await asyncio.wait(set(self._gaps), timeout=timeout_s)
        for task in pending:
            task.cancel()
        if pending:
            log.error("audit_gaps_unrecorded", chain=self._chain.id, count=len(pending))
