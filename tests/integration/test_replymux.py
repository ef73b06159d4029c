"""The router's request machinery, against a real nats-server.

``ReplyMux`` must mean what nats-py's ``request`` means (replies, "no
responders", timeouts), and ``js_publish`` / ``js_direct_exists`` what
``js.publish`` / a direct get mean, since the route path relies on them.
"""

from __future__ import annotations

import asyncio

import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import StreamConfig
from nats.js.errors import APIError, NoStreamResponseError

from caio_broker.replymux import ReplyMux, js_direct_exists, js_publish
from caio_integration.client import CAIOClient


@pytest.fixture
async def mux(nc: NATS) -> ReplyMux:
    return await ReplyMux(nc).start()


async def test_each_reply_reaches_the_request_that_asked_for_it(
    nc: NATS, mux: ReplyMux, prefix: str
) -> None:
    async def echo_late(msg: Msg) -> None:
        # answer in reverse order of arrival, so replies cross each other
        await asyncio.sleep(0.05 - int(msg.data) / 1000)
        await nc.publish(msg.reply, b"re:" + msg.data)

    async def spawn(msg: Msg) -> None:
        asyncio.get_running_loop().create_task(echo_late(msg))

    await nc.subscribe(f"{prefix}.echo", cb=spawn)
    await nc.flush()

    replies = await asyncio.gather(
        *(mux.request(f"{prefix}.echo", str(i).encode(), 5) for i in range(40))
    )

    assert [r.data for r in replies] == [f"re:{i}".encode() for i in range(40)]


async def test_nobody_listening_is_no_responders_and_silence_is_a_timeout(
    nc: NATS, mux: ReplyMux, prefix: str
) -> None:
    async def ignore(msg: Msg) -> None:
        return None

    await nc.subscribe(f"{prefix}.silent", cb=ignore)
    await nc.flush()

    with pytest.raises(NoRespondersError):
        await mux.request(f"{prefix}.nobody", b"x", 2)
    with pytest.raises(NatsTimeoutError):
        await mux.request(f"{prefix}.silent", b"x", 0.2)


async def test_a_jetstream_publish_is_acked_refused_or_without_a_stream(
    nc: NATS, mux: ReplyMux, prefix: str
) -> None:
    js = nc.jetstream()
    stream = f"{prefix.upper()}_ONE"
    await js.add_stream(
        StreamConfig(name=stream, subjects=[f"{prefix}.one.>"], max_msgs_per_subject=1,
                     discard="new", discard_new_per_subject=True, allow_direct=True)
    )  # fmt: skip

    await js_publish(mux, f"{prefix}.one.a", b"first", 5)
    with pytest.raises(APIError) as refused:
        await js_publish(mux, f"{prefix}.one.a", b"second", 5)
    with pytest.raises(NoStreamResponseError):
        await js_publish(mux, f"{prefix}.nowhere", b"x", 5)

    assert refused.value.err_code == 10077  # the per-subject limit
    assert (await js.get_msg(stream, subject=f"{prefix}.one.a", direct=True)).data == b"first"
    assert await js_direct_exists(mux, stream, f"{prefix}.one.a", 5)
    assert not await js_direct_exists(mux, stream, f"{prefix}.one.b", 5)


async def test_clients_made_per_request_on_one_connection_share_one_reply_inbox(
    nc: NATS, mux: ReplyMux, prefix: str
) -> None:
    inboxes: list[str] = []

    async def answer(msg: Msg) -> None:
        inboxes.append(msg.reply.rsplit(".", 1)[0])
        await nc.publish(msg.reply, b'{"status": "ok"}')

    await nc.subscribe(f"{prefix}.ask", cb=answer)
    subscriptions = len(nc._subs)
    for _ in range(5):  # as the HTTP gateway does: a client per request, the bus's inbox
        client = CAIOClient(nc=nc, prefix=prefix, api_key="", replies=mux)
        assert await client.request(f"{prefix}.ask", {}) == {"status": "ok"}

    assert len(set(inboxes)) == 1
    assert len(nc._subs) == subscriptions


async def test_a_client_on_a_shared_connection_leaves_no_inbox_behind(
    nc: NATS, prefix: str
) -> None:
    async def answer(msg: Msg) -> None:
        await nc.publish(msg.reply, b'{"status": "ok"}')

    await nc.subscribe(f"{prefix}.ask", cb=answer)
    subscriptions = len(nc._subs)
    client = CAIOClient(nc=nc, prefix=prefix, api_key="")
    assert await client.request(f"{prefix}.ask", {}) == {"status": "ok"}
    assert len(nc._subs) == subscriptions + 1
    await client.close()

    assert len(nc._subs) == subscriptions
    assert nc.is_connected  # the connection is the caller's
