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

import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
from grpc_bridge_support import Demo, Route, compile_demo, start_server

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
def router(caio_router: Any) -> Any:
    """The SDK plugin's real router (caio_integration.testing), by the name used here."""
    return caio_router


@pytest.fixture
def route(caio_route: Route) -> Route:
    """The SDK plugin's route sender (caio_integration.testing), by the name used here."""
    return caio_route
