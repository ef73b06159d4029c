"""`caio audit verify` on the real audit stream a real router wrote.

The stream refuses deletes and purges; so tampering is played the way it
still could happen: someone with the rights rebuilds the stream with one
record changed, or one left out. `verify` must name that record.
"""

from __future__ import annotations

from collections.abc import Callable

import orjson
import pytest
from nats.aio.client import Client as NATS
from nats.js.api import StreamConfig
from nats.js.errors import APIError

from caio_integration.subjects import Subjects
from tests.cli.conftest import Ran, caio
from tests.integration.conftest import ServiceFactory, request

ROUTES = 5

Stored = list[tuple[str, bytes]]  # (subject, bytes), in stream order


async def routed_and_stored(nc: NATS, subjects: Subjects, live_service: ServiceFactory) -> Stored:
    await live_service("svc")
    for _ in range(ROUTES):
        assert (await request(nc, subjects.route("code_review"), {"context": {}}))["status"] == "ok"
    js = nc.jetstream()
    info = await js.stream_info(subjects.audit_stream)
    stored = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        msg = await js.get_msg(subjects.audit_stream, seq)
        stored.append((msg.subject, msg.data))
    return stored


async def rebuild(nc: NATS, subjects: Subjects, stored: Stored) -> None:
    """The stream deleted and made again with ``stored`` (a plain stream: no deny flags)."""
    js = nc.jetstream()
    await js.delete_stream(subjects.audit_stream)
    await js.add_stream(StreamConfig(name=subjects.audit_stream, subjects=[subjects.audit_all]))
    for subject, data in stored:
        await js.publish(subject, data)


async def verify(nats_url: str, prefix: str) -> Ran:
    return await caio("audit", "verify", "--nats-url", nats_url, "--prefix", prefix)


def changed(data: bytes, change: Callable[[dict[str, object]], None]) -> bytes:
    record = orjson.loads(data)
    change(record)
    return orjson.dumps(record)


async def test_a_routers_records_verify_and_cannot_be_deleted_one_by_one(
    nats_url: str, prefix: str, nc: NATS, subjects: Subjects, live_service: ServiceFactory
) -> None:
    stored = await routed_and_stored(nc, subjects, live_service)

    ran = await verify(nats_url, prefix)

    assert ran.code == 0, ran.text
    assert f"{len(stored)} record(s) in 1 chain(s): ok" in ran.out
    with pytest.raises(APIError, match="delete not permitted"):
        await nc.jetstream().delete_msg(subjects.audit_stream, 2)
    with pytest.raises(APIError, match="purge not permitted"):
        await nc.jetstream().purge_stream(subjects.audit_stream)


async def test_a_record_altered_after_the_fact_is_named(
    nats_url: str, prefix: str, nc: NATS, subjects: Subjects, live_service: ServiceFactory
) -> None:
    stored = await routed_and_stored(nc, subjects, live_service)
    subject, data = stored[-3]
    stored[-3] = (subject, changed(data, lambda r: r.update(caller="someone-else")))
    place = orjson.loads(data)["chain"]["seq"]
    await rebuild(nc, subjects, stored)

    ran = await verify(nats_url, prefix)

    assert ran.code == 1, ran.text
    assert f"does not match record {place} (stream seq {len(stored) - 2})" in ran.out
    assert "1 problem(s)" in ran.out


async def test_a_record_left_out_is_named_as_missing(
    nats_url: str, prefix: str, nc: NATS, subjects: Subjects, live_service: ServiceFactory
) -> None:
    stored = await routed_and_stored(nc, subjects, live_service)
    place = orjson.loads(stored[-3][1])["chain"]["seq"]
    del stored[-3]
    await rebuild(nc, subjects, stored)

    ran = await verify(nats_url, prefix)

    assert ran.code == 1, ran.text
    assert f"record(s) {place} missing" in ran.out
