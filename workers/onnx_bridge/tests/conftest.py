"""The ONNX bridge's own tests: a real nats-server, real onnxruntime, and a real router.

These tests install with the SDK and the bridge alone (``pip install -e
'sdk[testing]' -e 'workers/onnx_bridge[test]'``), so they import nothing
from the repository's ``tests`` package. Their model is built with
``onnx.helper`` (onnx_bridge_support.py) in the test's own directory; tests
that route through a CAIO router import ``caio_broker`` and are skipped where
it is not installed.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from onnx_bridge_support import Route

# Fixtures caio_nats_server, caio_nats_url, caio_prefix, caio_nc, caio_host.
pytest_plugins = ["caio_integration.testing"]


@pytest.fixture(autouse=True)
def _without_the_callers_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Variables exported in the shell (a CAIO prefix, a key) must not change a test."""
    for name in list(os.environ):
        if name.startswith("CAIO_") and not name.startswith("CAIO_TEST_"):
            monkeypatch.delenv(name)


@pytest.fixture
def router(caio_router: Any) -> Any:
    """The SDK plugin's real router (caio_integration.testing), by the name used here."""
    return caio_router


@pytest.fixture
def route(caio_route: Route) -> Route:
    """The SDK plugin's route sender (caio_integration.testing), by the name used here."""
    return caio_route
