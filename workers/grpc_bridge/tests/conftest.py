"""The gRPC bridge's own tests: a real gRPC server, a real nats-server, and a real router.

These tests install with the SDK and the bridge alone (``pip install -e
'sdk[testing]' -e 'workers/grpc_bridge[test]'``), so they import nothing
from the repository's ``tests`` package. Their service is a ``.proto``
compiled with grpcio-tools once per session (grpc_bridge_support.py) and
served by a ``grpc.aio`` server on a free port for each test; tests that
route through a CAIO router import ``caio_broker`` and are skipped where
it is not installed.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
from grpc_bridge_support import Demo, Route, compile_demo, start_server
from nats.aio.client import Client as NATS

from caio_integration.subjects import Subjects

# Fixtures caio_nats_server, caio_nats_url, caio_prefix, caio_nc, caio_host.
pytest_plugins = ["caio_integration.testing"]


@pytest.fixture(autouse=True)
def _without_the_callers_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Variables exported in the shell (a CAIO prefix, a key) must not change a test."""
    for name in list(os.environ):
        if name.startswith("CAIO_") and not name.startswith("CAIO_TEST_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    """The demo service's .proto, compiled with grpcio-tools (once: protobuf's default pool
    takes a file name once per process)."""
    return compile_demo(tmp_path_factory.mktemp("grpc_demo"))


@pytest.fixture
async def grpc_target(demo: Demo) -> AsyncIterator[str]:
    """``host:port`` of the demo service, with server reflection, for this test."""
    server, target = await start_server(demo)
    yield target
    await server.stop(None)


@pytest.fixture
async def router(caio_nats_url: str, caio_prefix: str) -> AsyncIterator[Any]:
    """A real CAIO router on this test's prefix (callers without keys, as a closed network)."""
    module = pytest.importorskip("caio_broker.router")
    service = module.Router(
        module.RouterConfig(
            nats_url=caio_nats_url,
            prefix=caio_prefix,
            discovery_window_s=0,
            auth=module.AuthSettings(required=False),
        )
    )
    await service.start()
    yield service
    await service.stop()


@pytest.fixture
def route(caio_nc: NATS, caio_prefix: str) -> Route:
    """``await route(capability, context, **fields)``: a routed request's reply, as any client
    gets it (``caio.route.<capability>``)."""

    async def send(capability: str, context: dict[str, Any], **fields: Any) -> dict[str, Any]:
        msg = await caio_nc.request(
            Subjects(caio_prefix).route(capability),
            json.dumps({"context": context, **fields}).encode(),
            timeout=15,
        )
        reply = json.loads(msg.data)
        assert isinstance(reply, dict)
        return reply

    return send
