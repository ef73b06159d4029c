"""One page of the audit stream: records after a sequence number, filtered.

``caio_integration.audit.replay_audit`` replays to the end of the stream
and forgets where it was; an HTTP caller needs pages and a cursor. Each
record comes with its stream sequence (``seq``), and a page says where the
next one starts (``next_after``). A page is read with JetStream's "next
message by subject" get, one per record: kind and service filter by
subject, so the server skips what does not match; the outcome is checked
record by record. No consumer is made, so nothing waits on a timeout and
nothing is left on the server; a page of 100 costs 101 round trips (the
last one tells whether more follow).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from nats.aio.client import Client as NATS
from nats.js.api import RawStreamMsg
from nats.js.client import JetStreamContext
from nats.js.errors import NotFoundError
from pydantic import BaseModel, Field

from caio_integration._json import loads
from caio_integration.audit import ReplayFilter
from caio_integration.subjects import Subjects

__all__ = ["AuditPage", "read_page"]


class AuditPage(BaseModel):
    status: str = Field("ok", description="Always `ok`.")
    records: list[dict[str, Any]] = Field(
        description="Audit records (docs/protocol.md, Audit), oldest first, each with `seq`,"
        " its sequence in the audit stream."
    )
    count: int = Field(description="How many records this page holds.")
    next_after: int = Field(
        description="Pass as `after` for the next page: the last sequence this page read."
    )
    more: bool = Field(description="Whether records matching the filter follow this page.")


# A page with an outcome filter reads at most this many records per record it
# may return, so a rare outcome costs a bounded page (``more`` says to go on).
_SCAN_FACTOR = 10


async def _next(js: JetStreamContext, stream: str, seq: int, subject: str) -> RawStreamMsg | None:
    """The first message at or after ``seq`` on ``subject``; None past the last."""
    try:
        return await js.get_msg(stream, seq=seq, subject=subject, next=True)
    except NotFoundError:
        return None


async def _first_at(js: JetStreamContext, stream: str, subject: str, since: dt.datetime) -> int:
    """The first sequence the stream stored at or after ``since``.

    A binary search on the server's storage times, which grow with the
    sequence: about 20 gets for a million records, and no consumer.
    """
    if since.tzinfo is None:
        since = since.replace(tzinfo=dt.UTC)  # the audit's own times are UTC
    try:
        state = (await js.stream_info(stream)).state
    except NotFoundError:
        return 1
    low, high = state.first_seq, state.last_seq
    while low <= high:
        middle = (low + high) // 2
        msg = await _next(js, stream, middle, subject)
        if msg is None or msg.seq is None or (msg.time is not None and msg.time >= since):
            high = middle - 1  # the first one at or after `since` is at most here
        else:
            low = msg.seq + 1  # everything up to msg.seq is older
    return low


async def read_page(
    nc: NATS,
    subjects: Subjects,
    wanted: ReplayFilter,
    *,
    after: int,
    limit: int,
) -> AuditPage:
    """Up to ``limit`` records after sequence ``after`` (or from ``wanted.since``)."""
    js = nc.jetstream()
    stream = subjects.audit_stream
    subject = wanted.subject(subjects)
    if after == 0 and wanted.since is not None:
        after = await _first_at(js, stream, f"{subjects.prefix}.audit.>", wanted.since) - 1
    records: list[dict[str, Any]] = []
    seq = after
    budget = limit * _SCAN_FACTOR if wanted.outcome else limit
    while len(records) < limit and budget > 0:
        msg = await _next(js, stream, seq + 1, subject)
        if msg is None or msg.seq is None:
            return AuditPage(records=records, count=len(records), next_after=seq, more=False)
        seq = msg.seq
        budget -= 1
        record = loads(msg.data or b"null")
        if isinstance(record, dict) and wanted.accepts(record):
            records.append({"seq": seq, **record})
    more = await _next(js, stream, seq + 1, subject) is not None
    return AuditPage(records=records, count=len(records), next_after=seq, more=more)
