"""The HTTP bridge's own tests: a real nats-server, real HTTP, and (where it matters) a router.

These tests install with the SDK and the bridge alone (``pip install -e
'sdk[testing]' -e workers/http_bridge``), so they import nothing from the
repository's ``tests`` package. Upstreams are ``fake_upstream.py`` beside
them, a real HTTP server on 127.0.0.1 that the bridge's aiohttp session calls;
tests that route through a CAIO router import ``caio_broker`` and are
skipped where it is not installed.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from typing import Any

import pytest
from fake_upstream import FakeUpstream
from http_bridge_support import CapturedLogs, Route, StartBridge

from caio_http_bridge import HttpBridgeService

# Fixtures caio_nats_server, caio_nats_url, caio_prefix, caio_nc, caio_host.
pytest_plugins = ["caio_integration.testing"]


@pytest.fixture(autouse=True)
def _without_the_callers_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Variables exported in the shell (a real key, a CAIO prefix) must not change a test."""
    for name in list(os.environ):
        if name.startswith(("CAIO_", "OPENAI_", "ANTHROPIC_")) and not name.startswith(
            "CAIO_TEST_"
        ):
            monkeypatch.delenv(name)


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    """A real HTTP server answering like the example contracts' upstreams (fake_upstream.py)."""
    with FakeUpstream() as server:
        yield server


@pytest.fixture
async def bridge(caio_host: Any, upstream: FakeUpstream) -> StartBridge:
    """``await bridge(contract_path, path="/v1", env=..., **HostConfig fields)``: the contract
    served through the bridge on this test's prefix, its upstream the fake one (at ``path``)."""

    async def start(
        contract: str | os.PathLike[str],
        *,
        path: str = "",
        env: dict[str, str] | None = None,
        base_url: str | None = None,
        **settings: Any,
    ) -> HttpBridgeService:
        service = HttpBridgeService(
            base_url=base_url if base_url is not None else upstream.base_url + path, env=env
        )
        await caio_host(service, contract, **settings)
        return service

    return start


@pytest.fixture
def router(caio_router: Any) -> Any:
    """The SDK plugin's real router (caio_integration.testing), by the name used here."""
    return caio_router


@pytest.fixture
def route(caio_route: Route) -> Route:
    """The SDK plugin's route sender (caio_integration.testing), by the name used here."""
    return caio_route


@pytest.fixture
def captured_logs(caplog: pytest.LogCaptureFixture) -> CapturedLogs:
    """``with captured_logs() as lines``: every log line written inside, as text: the SDK's
    (structlog when installed, else the standard logging module) and aiohttp's."""

    @contextlib.contextmanager
    def capture() -> Iterator[list[str]]:
        lines: list[str] = []
        with contextlib.ExitStack() as stack:
            stack.enter_context(caplog.at_level(logging.DEBUG))
            entries: list[dict[str, Any]] = []
            try:
                from structlog.testing import capture_logs
            except ImportError:
                pass
            else:
                entries = stack.enter_context(capture_logs())
            yield lines
        lines += [repr(entry) for entry in entries]
        lines += [record.getMessage() for record in caplog.records]

    return capture
