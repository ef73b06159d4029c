"""Read the audit stream back: from the start, from a time, or following it.

Any JetStream consumer can replay ``CAIO_AUDIT``; this is the one ``caio
audit replay`` uses. It is an ordered, ephemeral consumer (nothing is left
on the server), filtered by subject where it can (kind, service) and by
record where it must (outcome).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from nats.aio.client import Client as NATS
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from caio_integration._json import loads
from caio_integration.errors import NotFound
from caio_integration.subjects import Subjects

__all__ = ["ReplayFilter", "replay_audit", "stored_records"]


@dataclass(frozen=True, slots=True)
class ReplayFilter:
    since: dt.datetime | None = None
    service_id: str | None = None
    kind: str | None = None
    outcome: str | None = None
    follow: bool = False

    def subject(self, subjects: Subjects) -> str:
        return f"{subjects.prefix}.audit.{self.kind or '*'}.{self.service_id or '*'}"

    def accepts(self, record: dict[str, Any]) -> bool:
        return self.outcome is None or record.get("outcome") == self.outcome


async def replay_audit(
    nc: NATS, subjects: Subjects, wanted: ReplayFilter, idle_timeout_s: float = 2.0
) -> AsyncIterator[dict[str, Any]]:
    """Yield records in stream order; without ``follow``, stop at the end of the stream."""
    js = nc.jetstream()
    try:
        info = await js.stream_info(subjects.audit_stream)
    except NotFoundError:
        raise NotFound(f"audit stream {subjects.audit_stream} does not exist yet") from None
    last_seq = info.state.last_seq
    if not wanted.follow and info.state.messages == 0:
        return

    config = ConsumerConfig(
        deliver_policy=DeliverPolicy.BY_START_TIME if wanted.since else DeliverPolicy.ALL,
        opt_start_time=wanted.since.astimezone(dt.UTC) if wanted.since else None,
    )
    sub = await js.subscribe(
        wanted.subject(subjects), ordered_consumer=True, config=config, stream=subjects.audit_stream
    )
    try:
        while True:
            try:
                msg = await sub.next_msg(timeout=None if wanted.follow else idle_timeout_s)
            except TimeoutError:  # nats' TimeoutError is one too
                return  # nothing (more) matches the filter
            record = loads(msg.data)
            if isinstance(record, dict) and wanted.accepts(record):
                yield record
            meta = msg.metadata
            if not wanted.follow and (meta.num_pending == 0 or meta.sequence.stream >= last_seq):
                return
    finally:
        await sub.unsubscribe()


async def stored_records(
    nc: NATS,
    subjects: Subjects,
    since: dt.datetime | None = None,
    idle_timeout_s: float = 2.0,
) -> AsyncIterator[tuple[int, bytes]]:
    """Every stored record as ``(stream sequence, bytes)``, as ``caio audit verify``
    needs them: the exact bytes a chain's hashes were taken over."""
    js = nc.jetstream()
    try:
        info = await js.stream_info(subjects.audit_stream)
    except NotFoundError:
        raise NotFound(f"audit stream {subjects.audit_stream} does not exist") from None
    if info.state.messages == 0:
        return
    config = ConsumerConfig(
        deliver_policy=DeliverPolicy.BY_START_TIME if since else DeliverPolicy.ALL,
        opt_start_time=since.astimezone(dt.UTC) if since else None,
    )
    last_seq = info.state.last_seq
    sub = await js.subscribe(
        subjects.audit_all, ordered_consumer=True, config=config, stream=subjects.audit_stream
    )
    try:
        while True:
            try:
                msg = await sub.next_msg(timeout=idle_timeout_s)
            except TimeoutError:
                return
            meta = msg.metadata
            yield meta.sequence.stream, msg.data
            if meta.num_pending == 0 or meta.sequence.stream >= last_seq:
                return
    finally:
        await sub.unsubscribe()
