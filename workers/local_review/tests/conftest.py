"""The local review worker's own tests: a real nats-server from ``caio_integration.testing``.

These tests install with the worker alone (``pip install -e sdk[testing] -e
workers/local_review``), so they import nothing from the repository's
``tests`` package. Each worker connects under the test's own subject prefix
and gets a service id derived from it, so the micro service names
(``$SRV.*.<service_id>``) never meet between tests either.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

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
def start_worker(caio_worker: StartWorker) -> StartWorker:
    """``await start_worker(cls, contract, worker_kwargs=..., **config)``: the SDK's
    ``caio_worker``; every worker is stopped after the test."""
    return caio_worker
