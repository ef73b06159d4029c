"""The Codex worker's own tests: a real nats-server from ``caio_integration.testing``.

These tests install with the worker alone (``pip install -e sdk[testing] -e
workers/codex``), so they import nothing from the repository's ``tests``
package: the upstream is ``fake_openai.py`` beside them, a real HTTP server
the real openai SDK talks to. Each worker connects under the test's own
subject prefix and gets a service id derived from it, so the micro service
names (``$SRV.*.<service_id>``) never meet between tests either.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from fake_openai import FakeOpenAIServer

from caio_integration.bridge import BridgeWorker, WorkerConfig
from caio_integration.contracts.model import ServiceContract

# Fixtures caio_nats_server, caio_nats_url, caio_prefix, caio_nc, caio_host.
pytest_plugins = ["caio_integration.testing"]

StartWorker = Callable[..., Awaitable[Any]]
CapturedLogs = Callable[[], contextlib.AbstractContextManager[list[dict[str, Any]]]]


@pytest.fixture(autouse=True)
def _without_the_callers_caio(monkeypatch: pytest.MonkeyPatch) -> None:
    """A CAIO_* or OPENAI_* variable exported in the shell must not change a test."""
    for name in list(os.environ):
        if name.startswith(("CAIO_", "OPENAI_")) and not name.startswith("CAIO_TEST_"):
            monkeypatch.delenv(name)


@pytest.fixture
def service_id(caio_prefix: str) -> str:
    return f"svc-{caio_prefix}"


@pytest.fixture
def worker_config(caio_nats_url: str, caio_prefix: str) -> Callable[..., WorkerConfig]:
    """A ``WorkerConfig`` for the session's server and this test's prefix, with overrides."""

    def make(**overrides: Any) -> WorkerConfig:
        values: dict[str, Any] = {"nats_url": caio_nats_url, "prefix": caio_prefix}
        values.update(overrides)
        return WorkerConfig(**values)

    return make


@pytest.fixture
async def start_worker(worker_config: Callable[..., WorkerConfig]) -> AsyncIterator[StartWorker]:
    """``await start_worker(cls, contract, worker_kwargs=..., **config)``: a started worker;
    every worker is stopped after the test."""
    started: list[BridgeWorker] = []

    async def start(
        cls: type[BridgeWorker],
        contract: ServiceContract,
        *,
        worker_kwargs: dict[str, Any] | None = None,
        **config_overrides: Any,
    ) -> Any:
        worker = cls(contract, worker_config(**config_overrides), **(worker_kwargs or {}))
        await worker.start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        await worker.stop()


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAIServer]:
    """A real OpenAI-compatible HTTP server on 127.0.0.1 (see fake_openai.py)."""
    with FakeOpenAIServer(slow_max_s=10.0) as server:
        yield server


@pytest.fixture
def captured_logs(caplog: pytest.LogCaptureFixture) -> CapturedLogs:
    """``with captured_logs() as logs``: the entries logged inside, each a dict with an
    ``event``. The SDK logs through structlog when it is installed (the repository's
    environment), else through the standard ``logging`` module (the worker alone)."""

    @contextlib.contextmanager
    def capture() -> Iterator[list[dict[str, Any]]]:
        try:
            from structlog.testing import capture_logs
        except ImportError:
            logs: list[dict[str, Any]] = []
            with caplog.at_level(logging.DEBUG):
                yield logs
            for record in caplog.records:  # every logger's, the openai SDK's too
                # The SDK's stdlib logger writes "%s %s" % (event, "key=value ...").
                sdk_line = record.msg == "%s %s" and isinstance(record.args, tuple)
                event = record.args[0] if sdk_line else record.msg
                logs.append({"event": event, "line": record.getMessage()})
        else:
            with capture_logs() as entries:
                yield entries

    return capture
