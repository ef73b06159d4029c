"""Fixtures shared by every test: a real nats-server and per-test names.

One nats-server (JetStream, its own store dir, a free port) serves the whole
session; tests stay apart by each taking its own subject prefix, so their
subjects, KV buckets and streams never meet. Tests that restart or kill the
server start their own with ``nats_server_factory``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import nats
import pytest
from nats.aio.client import Client as NATS

from caio_integration.natsserver import NatsServer, NatsServerConfig, docker_engine_reachable
from caio_integration.subjects import Subjects

if TYPE_CHECKING:
    from tests.secure.bus import SecureBus

# --bus=secure (tests/secure/bus.py): each test on its own secure nats-server, one user per role.
pytest_plugins = ("tests.secure.bus",)


def _secure(config: pytest.Config) -> bool:
    return bool(config.getoption("bus") == "secure")


def _bus_scope(fixture_name: str, config: pytest.Config) -> Literal["session", "function"]:
    """One server for the session; under --bus=secure one per test (its prefix's users)."""
    return "function" if _secure(config) else "session"


def _testcontainers_server() -> Iterator[str]:  # pragma: no cover - needs a Docker engine
    from testcontainers.nats import NatsContainer

    with NatsContainer("nats:2.10-alpine", jetstream=True) as container:
        yield container.nats_uri()


@pytest.fixture(scope=_bus_scope)
def nats_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """URL of the session's real nats-server with JetStream (--bus=secure: this test's)."""
    if _secure(request.config):
        secure: SecureBus = request.getfixturevalue("secure_bus")
        yield secure.url
        return
    if docker_engine_reachable():  # pragma: no cover - no engine on our machines
        yield from _testcontainers_server()
        return
    store = tmp_path_factory.mktemp("nats-store")
    with NatsServer(NatsServerConfig(store_dir=store)) as server:
        yield server.url


@pytest.fixture
def nats_server_factory(tmp_path: Path) -> Iterator[Callable[..., NatsServer]]:
    """Start private servers (for kill/restart tests); all stopped at teardown."""
    servers: list[NatsServer] = []

    def start(**overrides: object) -> NatsServer:
        config = NatsServerConfig(store_dir=tmp_path / f"store-{len(servers)}")
        for key, value in overrides.items():
            setattr(config, key, value)
        server = NatsServer(config).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(autouse=True)
def _away_from_the_callers_caio(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test runs in its own empty directory, without the caller's CAIO_* variables.

    The CLI reads ./.caio/admin.key (written by `caio up`) and CAIO_API_KEY,
    CAIO_NATS_URL, CAIO_PREFIX...: a `caio up` in the checkout or an exported
    variable must not change what a test's CLI call or client does.
    (CAIO_TEST_* are the suite's own settings.)
    """
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("CAIO_") and not name.startswith("CAIO_TEST_"):
            monkeypatch.delenv(name)


@pytest.fixture
def prefix() -> str:
    """A subject prefix no other test uses."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def subjects(prefix: str) -> Subjects:
    return Subjects(prefix)


@pytest.fixture
async def nc(nats_url: str, bus: SecureBus | None) -> AsyncIterator[NATS]:
    """A bare nats-py client, as any non-Python caller would have (secure: the test's role)."""
    client = await nats.connect(nats_url, **(bus.options(bus.client_role) if bus else {}))
    yield client
    await client.drain()
