"""Rate limits on a real nats-server: one count shared by every router replica."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import nats
import pytest
from nats.aio.client import Client as NATS
from nats.js.api import DiscardPolicy, StorageType, StreamConfig

from caio_broker.ratelimit import (
    RateDecision,
    SlidingWindowLimiter,
    limit_stream_name,
    limit_subject,
)
from caio_integration.errors import CAIOError
from caio_integration.natsserver import NatsServer
from caio_integration.subjects import Subjects


@pytest.fixture
async def limiter(nc: NATS, subjects: Subjects) -> SlidingWindowLimiter:
    return SlidingWindowLimiter(nc.jetstream(), subjects)


@pytest.fixture
async def second_router_nc(nats_url: str) -> AsyncIterator[NATS]:
    """A second, separate connection: what another router replica would have."""
    client = await nats.connect(nats_url)
    yield client
    await client.drain()


async def hits(
    limiter: SlidingWindowLimiter, key: str, n: int, limit: int, window_s: int
) -> list[RateDecision]:
    return [await limiter.hit(key, limit, window_s) for _ in range(n)]


async def test_n_hits_are_allowed_then_the_next_is_refused_with_a_retry_hint(
    limiter: SlidingWindowLimiter,
) -> None:
    decisions = await hits(limiter, "caller.alice", 6, limit=5, window_s=60)

    assert [d.allowed for d in decisions] == [True] * 5 + [False]
    refused = decisions[-1]
    assert refused.remaining == 0
    assert refused.retry_after_s is not None
    assert 55 < refused.retry_after_s <= 60


async def test_refused_hits_keep_being_refused_and_do_not_count(
    nc: NATS, subjects: Subjects, limiter: SlidingWindowLimiter
) -> None:
    decisions = await hits(limiter, "alice", 10, limit=3, window_s=60)

    assert sum(d.allowed for d in decisions) == 3
    info = await nc.jetstream().stream_info(limit_stream_name(subjects, 60, 3))
    assert info.state.messages == 3


async def test_different_keys_are_counted_apart(limiter: SlidingWindowLimiter) -> None:
    alice = await hits(limiter, "caller.alice", 3, limit=2, window_s=60)
    bob = await hits(limiter, "caller.bob", 2, limit=2, window_s=60)
    service_alice = await limiter.hit("svc.alice", 2, 60)

    assert [d.allowed for d in alice] == [True, True, False]
    assert [d.allowed for d in bob] == [True, True]
    assert service_alice.allowed


async def test_two_routers_on_two_connections_share_one_exact_limit(
    nc: NATS, second_router_nc: NATS, subjects: Subjects
) -> None:
    router_a = SlidingWindowLimiter(nc.jetstream(), subjects)
    router_b = SlidingWindowLimiter(second_router_nc.jetstream(), subjects)
    limit = 50

    decisions = await asyncio.gather(
        *(
            router.hit("caller.alice", limit, 60)
            for _ in range(limit)
            for router in (router_a, router_b)
        )
    )

    assert len(decisions) == 2 * limit
    assert sum(d.allowed for d in decisions) == limit


async def test_hits_are_allowed_again_once_the_window_has_slid_past(
    limiter: SlidingWindowLimiter,
) -> None:
    await hits(limiter, "alice", 2, limit=2, window_s=2)
    refused = await limiter.hit("alice", 2, 2)
    assert not refused.allowed
    assert refused.retry_after_s is not None
    assert 0 < refused.retry_after_s <= 2

    # Wait what the limiter said; the server's expiry may trail by a moment, so
    # re-ask on its hints, bounded well inside one more window.
    decision = refused
    async with asyncio.timeout(refused.retry_after_s + 1.5):
        while not decision.allowed:
            assert decision.retry_after_s is not None
            await asyncio.sleep(decision.retry_after_s)
            decision = await limiter.hit("alice", 2, 2)

    assert decision.allowed


@pytest.mark.parametrize("key", ["", "a.*", ">", "a b", "a..b", "Alice"])
async def test_unsafe_keys_raise_before_anything_is_counted(
    limiter: SlidingWindowLimiter, key: str
) -> None:
    with pytest.raises(ValueError, match="unsafe rate-limit key"):
        await limiter.hit(key, 5, 60)


async def test_the_stream_is_created_once_and_reused_by_a_second_limiter(
    nc: NATS, second_router_nc: NATS, subjects: Subjects
) -> None:
    first = SlidingWindowLimiter(nc.jetstream(), subjects)
    second = SlidingWindowLimiter(second_router_nc.jetstream(), subjects, replicas=1)

    await first.hit("alice", 3, 60)
    created = await nc.jetstream().stream_info(limit_stream_name(subjects, 60, 3))
    assert (await second.hit("alice", 3, 60)).allowed
    reused = await nc.jetstream().stream_info(limit_stream_name(subjects, 60, 3))

    assert reused.created == created.created
    assert reused.state.messages == 2
    config = reused.config
    assert config.storage == StorageType.MEMORY
    assert config.max_age == 60
    assert config.max_msgs_per_subject == 3
    assert config.discard_new_per_subject


async def test_routers_racing_to_create_the_stream_all_succeed(
    nc: NATS, second_router_nc: NATS, subjects: Subjects
) -> None:
    routers = [
        SlidingWindowLimiter(conn.jetstream(), subjects)
        for conn in (nc, second_router_nc)
        for _ in range(3)
    ]

    decisions = await asyncio.gather(*(router.hit("alice", 100, 60) for router in routers))

    assert all(d.allowed for d in decisions)


async def test_a_stream_made_by_a_router_with_other_replicas_is_still_used(
    nc: NATS, subjects: Subjects, limiter: SlidingWindowLimiter
) -> None:
    name = limit_stream_name(subjects, 60, 2)
    await nc.jetstream().add_stream(
        StreamConfig(
            name=name,
            subjects=[limit_subject(subjects, 60, 2)],
            storage=StorageType.MEMORY,
            max_age=60,
            max_msgs_per_subject=2,
            discard=DiscardPolicy.NEW,
            discard_new_per_subject=True,
            description="made by an older router",
        )
    )

    decisions = await hits(limiter, "alice", 3, limit=2, window_s=60)

    assert [d.allowed for d in decisions] == [True, True, False]


async def test_a_stream_under_our_name_that_does_not_limit_is_refused_not_trusted(
    nc: NATS, subjects: Subjects, limiter: SlidingWindowLimiter
) -> None:
    name = limit_stream_name(subjects, 60, 2)
    await nc.jetstream().add_stream(
        StreamConfig(
            name=name, subjects=[limit_subject(subjects, 60, 2)], storage=StorageType.MEMORY
        )
    )

    with pytest.raises(CAIOError, match="does not enforce"):
        await limiter.hit("alice", 2, 60)


async def test_a_different_limit_counts_in_its_own_stream(
    nc: NATS, subjects: Subjects, limiter: SlidingWindowLimiter
) -> None:
    at_two = await hits(limiter, "alice", 3, limit=2, window_s=60)
    at_four = await hits(limiter, "alice", 4, limit=4, window_s=60)

    assert [d.allowed for d in at_two] == [True, True, False]
    assert all(d.allowed for d in at_four)
    names = {name async for name in _stream_names(nc, subjects)}
    assert names == {limit_stream_name(subjects, 60, 2), limit_stream_name(subjects, 60, 4)}


async def test_a_stream_that_vanished_is_made_again_on_the_next_hit(
    nc: NATS, subjects: Subjects, limiter: SlidingWindowLimiter
) -> None:
    # A standalone server forgets memory streams on restart; deletion is the same to us.
    await hits(limiter, "alice", 2, limit=2, window_s=60)
    await nc.jetstream().delete_stream(limit_stream_name(subjects, 60, 2))

    decisions = await hits(limiter, "alice", 3, limit=2, window_s=60)

    assert [d.allowed for d in decisions] == [True, True, False]


async def test_when_nats_is_gone_the_limiter_denies_with_a_retryable_error(
    nats_server_factory: Callable[..., NatsServer], subjects: Subjects
) -> None:
    server = nats_server_factory()
    client = await nats.connect(server.url, max_reconnect_attempts=0)
    limiter = SlidingWindowLimiter(client.jetstream(), subjects, timeout_s=0.5)
    assert (await limiter.hit("alice", 5, 60)).allowed

    server.stop()
    with pytest.raises(CAIOError) as raised:
        await limiter.hit("alice", 5, 60)

    assert raised.value.retryable
    await client.close()


async def _stream_names(nc: NATS, subjects: Subjects) -> AsyncIterator[str]:
    # Page through the list: the session's shared server holds more streams than
    # one STREAM.LIST page (256) by the time the whole suite has run.
    js, offset = nc.jetstream(), 0
    while page := await js.streams_info(offset=offset):
        offset += len(page)
        for info in page:
            if info.config.name and info.config.name.endswith(f"_{subjects.prefix}"):
                yield info.config.name
