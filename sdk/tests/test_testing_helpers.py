"""``caio_integration.testing`` without pytest's fixtures: a server and a service as context
managers, as a script or another test framework would use them."""

from __future__ import annotations

from typing import Any

import nats

from caio_integration.testing import ask_service, hosted, nats_server


async def test_a_server_and_a_hosted_service_as_context_managers(echo_example: Any) -> None:
    example = echo_example

    with nats_server() as server:
        async with hosted(example.EchoService(), example.CONTRACT, nats_url=server.url) as host:
            nc = await nats.connect(server.url)
            answer = await ask_service(nc, "echo", "echo", {"text": "hi"})
            await nc.drain()
            assert host.running
        assert not host.running

    assert not server.running
    assert answer.body["usage"] == {"chars": 2}
    assert answer.result == {"echo": "hi"}
