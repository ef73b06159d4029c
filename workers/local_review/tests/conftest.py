"""The local review worker's own tests: a real nats-server from ``caio_integration.testing``.

These tests install with the worker alone (``pip install -e sdk[testing] -e
workers/local_review``), so they import nothing from the repository's
``tests`` package. Each worker connects under the test's own subject prefix
and gets a service id derived from it, so the micro service names
(``$SRV.*.<service_id>``) never meet between tests either.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from caio_integration.bridge import BridgeWorker, WorkerConfig
from caio_integration.contracts.model import ServiceContract

# Fixtures caio_nats_server, caio_nats_url, caio_prefix, caio_nc, caio_host.
pytest_plugins = ["caio_integration.testing"]

StartWorker = Callable[..., Awaitable[Any]]


@pytest.fixture(autouse=True)
def _without_the_callers_caio(monkeypatch: pytest.MonkeyPatch) -> None:
    """A CAIO_* variable exported in the shell must not change a test."""
    for name in list(os.environ):
        if name.startswith("CAIO_") and not name.startswith("CAIO_TEST_"):
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
