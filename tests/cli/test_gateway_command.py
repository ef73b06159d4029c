"""`caio gateway` starts the HTTP gateway on NATS and routes a request through it.

The command runs as a subprocess against the suite's nats-server and a real
router; the request is plain HTTP (gateway/tests covers the API itself).
"""

from __future__ import annotations

import asyncio
import signal
import socket
from collections.abc import AsyncIterator

import httpx
import pytest

from caio_broker.router import Router
from caio_integration.subjects import Subjects
from tests.cli.conftest import CAIO, _env
from tests.integration.conftest import ServiceFactory


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def until_healthy(url: str, process: asyncio.subprocess.Process) -> None:
    """Poll /healthz until it answers (a server has no event to await from outside)."""
    async with httpx.AsyncClient() as http:
        for _ in range(200):
            if process.returncode is not None:
                raise AssertionError(f"caio gateway exited with {process.returncode}")
            try:
                if (await http.get(f"{url}/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError("caio gateway never became healthy")


@pytest.fixture
async def gateway_url(nats_url: str, subjects: Subjects, router: Router) -> AsyncIterator[str]:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        CAIO,
        "gateway",
        "--port",
        str(port),
        "--nats-url",
        nats_url,
        "--prefix",
        subjects.prefix,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=_env(None),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await until_healthy(url, process)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), timeout=15)


async def test_the_gateway_command_routes_an_http_request_by_contract(
    gateway_url: str, live_service: ServiceFactory
) -> None:
    await live_service("reviewer")

    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{gateway_url}/api/v1/route/code_review", json={"context": {"code": "x = 1"}}
        )

    assert response.status_code == 200, response.text
    assert response.json()["service_id"] == "reviewer"
