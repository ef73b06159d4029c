"""The whole HTTP path, with no line of service code: the official openai SDK ->
`caio gateway` -> router -> HTTP bridge (a contract's `api` section) -> an
OpenAI-compatible server, plain and streamed.

Every part is real: a nats-server, a router, the bridge serving
contracts/examples/openai-compatible-chat.yaml, the gateway under uvicorn on
a socket, and a fake upstream speaking HTTP with real SSE.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from nats.aio.client import Client as NATS
from openai import AsyncOpenAI

from caio_broker.router import Router
from caio_gateway import GatewayConfig
from caio_gateway.server import uvicorn_config
from caio_http_bridge import create_host
from caio_integration.client import CAIOClient
from caio_integration.host import HostConfig
from caio_integration.subjects import Subjects
from tests.fakes.openai_server import FakeOpenAIServer
from tests.integration.conftest import StartRouter

CONTRACT = Path(__file__).resolve().parents[2] / "contracts/examples/openai-compatible-chat.yaml"


@pytest.fixture
def upstream(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAIServer]:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-upstream-secret")  # the contract's auth.env
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
async def router(start_router: StartRouter) -> Router:
    return await start_router(auth=True)


async def key(router: Router, name: str, role: str) -> str:
    assert router.keys is not None
    secret, _ = await router.keys.create(name, role)
    return str(secret)


@pytest.fixture
async def bridge(
    upstream: FakeOpenAIServer, nc: NATS, nats_url: str, subjects: Subjects, router: Router
) -> AsyncIterator[None]:
    # A publisher registers the contract; the bridge only serves it (on a secure bus a
    # worker's NATS user may not register: docs/security.md).
    publisher = await key(router, "model-server", "publisher")
    registering = CAIOClient(nc=nc, prefix=subjects.prefix, api_key=publisher)
    await registering.register_service(CONTRACT)
    config = HostConfig(nats_url=nats_url, prefix=subjects.prefix, register=False)
    host = create_host(CONTRACT, config, base_url=upstream.base_url)
    await host.start()
    assert await router.liveness.wait_available("openai-compatible-chat", timeout_s=10)
    yield
    await host.stop()


@pytest.fixture
async def gateway(nats_url: str, subjects: Subjects, bridge: None) -> AsyncIterator[str]:
    # Listening before uvicorn starts: the first request waits in the backlog, and
    # its answer is the readiness check (as gateway/tests does).
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    config = GatewayConfig(nats_url=nats_url, prefix=subjects.prefix)
    server = uvicorn.Server(uvicorn_config(config, log_level="warning"))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    async with httpx.AsyncClient(base_url=url, timeout=20) as probe:
        assert (await probe.get("/healthz")).status_code == 200
    yield url
    server.should_exit = True
    await serving
    sock.close()


@pytest.fixture
async def openai(gateway: str, router: Router) -> AsyncIterator[AsyncOpenAI]:
    caller = await key(router, "app", "caller")
    async with AsyncOpenAI(base_url=f"{gateway}/v1", api_key=caller, max_retries=0) as client:
        yield client


MESSAGES = [{"role": "user", "content": "write a function that adds two numbers"}]


async def test_a_chat_completion_goes_through_the_gateway_router_and_bridge_to_the_upstream(
    openai: AsyncOpenAI, upstream: FakeOpenAIServer
) -> None:
    completion = await openai.chat.completions.create(
        model="caio/chat_completion",
        messages=MESSAGES,  # type: ignore[arg-type]
    )

    assert completion.choices[0].message.content
    assert upstream.last_headers["authorization"] == "Bearer sk-upstream-secret"


async def test_a_streamed_chat_completion_arrives_in_pieces_through_every_hop(
    openai: AsyncOpenAI,
) -> None:
    stream = await openai.chat.completions.create(
        model="caio/chat_completion",
        messages=MESSAGES,  # type: ignore[arg-type]
        stream=True,
    )
    pieces = [chunk.choices[0].delta.content async for chunk in stream if chunk.choices]

    text = "".join(piece for piece in pieces if piece)
    assert len([piece for piece in pieces if piece]) > 1
    assert text
