"""Fixtures for the bridge worker tests: started workers.

Workers connect to the session's real nats-server under the test's own
subject prefix, and get a service id derived from it, so the micro service
names (``$SRV.*.<service_id>``) never collide between tests either.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from caio_integration.bridge import BridgeWorker, WorkerConfig
from caio_integration.contracts.model import ServiceContract
from tests.fakes.scripted_worker import ScriptedWorker, scripted_contract

StartWorker = Callable[..., Awaitable[Any]]


@pytest.fixture
def service_id(prefix: str) -> str:
    return f"svc-{prefix}"


@pytest.fixture
def worker_config(nats_url: str, prefix: str) -> Callable[..., WorkerConfig]:
    """A ``WorkerConfig`` for this test's server and prefix, with overrides."""

    def make(**overrides: Any) -> WorkerConfig:
        values: dict[str, Any] = {"nats_url": nats_url, "prefix": prefix}
        values.update(overrides)
        return WorkerConfig(**values)

    return make


@pytest.fixture
async def start_worker(
    worker_config: Callable[..., WorkerConfig], service_id: str
) -> AsyncIterator[StartWorker]:
    """Build and start workers (a ``ScriptedWorker`` by default); all stopped at teardown."""
    started: list[BridgeWorker] = []

    async def start(
        cls: type[BridgeWorker] = ScriptedWorker,
        contract: ServiceContract | None = None,
        *,
        worker_kwargs: dict[str, Any] | None = None,
        **config_overrides: Any,
    ) -> Any:
        worker = cls(
            contract or scripted_contract(service_id),
            worker_config(**config_overrides),
            **(worker_kwargs or {}),
        )
        await worker.start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        await worker.stop()
