"""The SDK's own tests: a real nats-server from ``caio_integration.testing``, and routers.

These tests install with the SDK alone, so they import nothing from the
repository's ``tests`` package. Tests that need a CAIO router import
``caio_broker`` through the fixtures below and are skipped where it is not
installed.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

# Fixtures caio_nats_server, caio_nats_url, caio_prefix, caio_nc, caio_host.
pytest_plugins = ["caio_integration.testing"]

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture
def echo_example() -> Any:
    """sdk/examples/echo_service.py, imported (the examples are not a package)."""
    spec = importlib.util.spec_from_file_location("echo_service", EXAMPLES / "echo_service.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def _without_the_callers_caio(monkeypatch: pytest.MonkeyPatch) -> None:
    """A CAIO_API_KEY or CAIO_PREFIX exported in the shell must not change a test."""
    for name in list(os.environ):
        if name.startswith("CAIO_") and not name.startswith("CAIO_TEST_"):
            monkeypatch.delenv(name)


@pytest.fixture
async def router(caio_nats_url: str, caio_prefix: str) -> AsyncIterator[Any]:
    """A real CAIO router on this test's prefix, with API keys required."""
    router_module = pytest.importorskip("caio_broker.router")
    service = router_module.Router(
        router_module.RouterConfig(nats_url=caio_nats_url, prefix=caio_prefix, discovery_window_s=0)
    )
    await service.start()
    yield service
    await service.stop()


MakeKey = Callable[[str, str], Awaitable[str]]


@pytest.fixture
def make_key(router: Any) -> MakeKey:
    """``await make_key(name, role)``: an API key's secret, made in the router's store."""

    async def make(name: str, role: str) -> str:
        secret, _ = await router.keys.create(name, role)
        return str(secret)

    return make
