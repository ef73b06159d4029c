"""An audit record sent while its stream has no server to take it.

On a cluster that is the audit stream between leaders, for the seconds an
election takes after a node is lost: the publish gets "no responders", so
the record is known not to be stored and is sent again with backoff. Here
the stream is deleted and brought back, which the real server answers the
same way, and the test waits for the router's first failed try (an event,
not a sleep) before bringing it back.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import NoRespondersError

from caio_broker.audit import AuditLog, AuditSettings, AuditUnavailable
from caio_integration.subjects import Subjects
from caio_integration.wire import AuditRecord, rfc3339_now


class WatchedRequests:
    """nats-py's request, with an event set when a request found no responders."""

    def __init__(self, nc: NATS) -> None:
        self.nc = nc
        self.no_responders = asyncio.Event()

    async def request(
        self, subject: str, payload: bytes, timeout: float, headers: dict[str, Any] | None = None
    ) -> Msg:
        try:
            return await self.nc.request(subject, payload, timeout=timeout, headers=headers)
        except NoRespondersError:
            self.no_responders.set()
            raise


def a_record() -> AuditRecord:
    return AuditRecord(ts=rfc3339_now(), kind="route", request_id="r1", outcome="ok")


async def stored(nc: NATS, subjects: Subjects) -> int:
    info = await nc.jetstream().stream_info(subjects.audit_stream)
    return info.state.messages


async def test_a_record_sent_while_the_stream_is_gone_is_stored_once_it_is_back(
    nc: NATS, subjects: Subjects
) -> None:
    requests = WatchedRequests(nc)
    audit = AuditLog(nc.jetstream(), subjects, AuditSettings(), requests)
    await audit.ensure_stream()
    await nc.jetstream().delete_stream(subjects.audit_stream)

    sending = asyncio.create_task(audit.record(a_record()))
    await asyncio.wait_for(requests.no_responders.wait(), 5)
    await audit.ensure_stream()
    await asyncio.wait_for(sending, 10)

    assert await stored(nc, subjects) == 1


async def test_a_stream_that_stays_gone_ends_in_audit_unavailable(
    nc: NATS, subjects: Subjects
) -> None:
    requests = WatchedRequests(nc)
    settings = AuditSettings(leaderless_backoff_s=(0.01, 0.01))
    audit = AuditLog(nc.jetstream(), subjects, settings, requests)

    with pytest.raises(AuditUnavailable):
        await audit.record(a_record())
    assert requests.no_responders.is_set()
