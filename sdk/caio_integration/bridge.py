"""``BridgeWorker``: the handler-style way to write a service, on the hosting runtime.

A bridge worker is built from a contract and a ``WorkerConfig``; subclasses
implement ``handle(capability, ServiceRequest) -> WorkResult``, and may
implement ``handle_stream`` to answer callers who asked for a stream in
pieces. Everything on the wire (the NATS micro service, queue group,
heartbeats, deadlines, concurrency, error replies, drain, chunks) is
``caio_integration.host.ServiceHost``'s: the worker hands it an
``AIUCPService`` whose ``execute`` calls ``handle`` (and ``execute_stream``
``handle_stream``).
New services may as well subclass ``AIUCPService`` directly (docs/sdk.md).
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import uuid
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from typing import Any, ClassVar, Self

from caio_integration._bridge_config import DEFAULT_NATS_URL, WorkerConfig, WorkResult
from caio_integration._log import get_logger
from caio_integration.contracts.model import ServiceContract
from caio_integration.host import ServiceHost, run_until_stopped
from caio_integration.service import AIUCPService
from caio_integration.subjects import Subjects
from caio_integration.wire import ServiceRequest

__all__ = ["DEFAULT_NATS_URL", "BridgeWorker", "WorkResult", "WorkerConfig"]


class BridgeWorker(ABC):
    """Serves a contract's capabilities on NATS; subclasses implement ``handle``."""

    #: The capabilities ``handle`` understands. Contract capabilities outside
    #: this set are still subscribed, and answer ``capability_not_implemented``.
    implemented_capabilities: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, contract: ServiceContract, config: WorkerConfig) -> None:
        if not set(contract.capability_names) & self.implemented_capabilities:
            raise ValueError(
                f"{type(self).__name__} implements {sorted(self.implemented_capabilities)}, "
                f"none of contract {contract.id!r}'s capabilities {list(contract.capability_names)}"
            )
        self.contract = contract
        self.config = config
        self.service_id: str = contract.id
        self.instance_id: str = config.instance_id or f"{contract.id}-{uuid.uuid4().hex[:8]}"
        self.subjects = Subjects(config.prefix)
        # For subclasses' own log lines (the host logs the wire's).
        self._log = get_logger(
            "caio.workers", service_id=self.service_id, instance_id=self.instance_id
        )
        self._host: ServiceHost | None = None
        self._stop_requested = asyncio.Event()

    # -- what subclasses provide -------------------------------------------

    @abstractmethod
    async def handle(self, capability: str, request: ServiceRequest) -> WorkResult:
        """Do the work; raise a ``caio_integration.errors.CAIOError`` subclass to fail."""

    def handle_stream(
        self, capability: str, request: ServiceRequest
    ) -> AsyncIterator[dict[str, Any] | WorkResult]:
        """Optional: do the work for a caller who asked for a stream, in pieces.

        The contract of ``AIUCPService.execute_stream``: override it as an
        async generator; each ``dict`` it yields is one chunk, sent at once;
        the last item may be a ``WorkResult``, the final result and usage
        (without one the final result is ``{}``). Errors are raised as in
        ``handle``; one raised after the first chunk ends the stream with
        that error, and the router does not fall back then. Only a worker
        that overrides it streams; the host calls ``handle`` for plain
        requests either way. It serves every implemented capability: for
        one you do not stream, ``yield await self.handle(capability, request)``.
        """
        raise NotImplementedError  # never called: see _HandlerService.streams

    async def setup(self) -> None:  # noqa: B027 - an optional hook, empty on purpose
        """Called by ``start`` before connecting: check tools, open clients."""

    async def teardown(self) -> None:  # noqa: B027 - an optional hook, empty on purpose
        """Called by ``stop`` after the last request was answered."""

    def get_health_status(self) -> dict[str, Any]:
        """As ``AIUCPService.get_health_status``: ``unhealthy`` takes the instance out."""
        return {"status": "healthy"}

    # -- lifecycle: the host's ---------------------------------------------------

    @property
    def running(self) -> bool:
        return self._host is not None and self._host.running

    @property
    def in_flight(self) -> int:
        """Requests accepted and not yet answered."""
        return self._host.in_flight if self._host is not None else 0

    async def start(self) -> None:
        """Connect, subscribe every capability, then announce the instance."""
        if self._host is not None:
            raise RuntimeError(f"worker {self.instance_id} was already started")
        # The host is built here, not in __init__: self.config may be replaced
        # until start (tests/secure gives each worker its credentials so).
        config = dataclasses.replace(self.config, instance_id=self.instance_id)
        self._host = ServiceHost(
            _HandlerService(self),
            config,
            stop_requested=self._stop_requested,
            implementation=type(self).__name__,
        )
        await self._host.start()

    async def stop(self) -> None:
        """Leave gracefully: say so, stop taking requests, finish in-flight work, drain."""
        self._stop_requested.set()
        if self._host is None:
            # Never started: a later start() is refused like a second one.
            self._host = ServiceHost(_HandlerService(self), self.config)
        await self._host.stop()

    async def run(self) -> None:
        """Start, serve until SIGTERM/SIGINT (or ``stop``), then stop gracefully."""
        await run_until_stopped(self.start, self.stop, self._stop_requested)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


class _HandlerService(AIUCPService):
    """The ``AIUCPService`` a ``BridgeWorker`` is to its host: ``execute`` calls ``handle``,
    ``execute_stream`` calls ``handle_stream``."""

    def __init__(self, worker: BridgeWorker) -> None:
        self._worker = worker
        self.contract = worker.contract

    def implements(self, capability: str) -> bool:
        return capability in self._worker.implemented_capabilities

    async def execute(
        self, request: dict[str, Any], context: dict[str, Any] | None = None
    ) -> WorkResult:
        assert context is not None  # the host always passes it
        work = await self._worker.handle(
            context["capability"], _service_request(request, context, stream=False)
        )
        if not isinstance(work, WorkResult):
            raise TypeError(f"handle() returned {type(work).__name__}, not WorkResult")
        return work

    def streams(self) -> bool:
        return type(self._worker).handle_stream is not BridgeWorker.handle_stream

    def execute_stream(
        self, request: dict[str, Any], context: dict[str, Any] | None = None
    ) -> AsyncIterator[dict[str, Any] | WorkResult]:
        assert context is not None  # the host always passes it
        # The worker's own iterator, not a wrapper: the host's cancellation (the
        # deadline) reaches the worker's code, and its cleanup, directly.
        stream = self._worker.handle_stream(
            context["capability"], _service_request(request, context, stream=True)
        )
        if not isinstance(stream, AsyncIterator):
            if inspect.iscoroutine(stream):
                stream.close()  # never awaited: say so here, not in a warning at exit
            raise TypeError(
                f"handle_stream() returned {type(stream).__name__}, not an async iterator: "
                "write it as an async generator (async def with yield)"
            )
        return stream

    def get_health_status(self) -> dict[str, Any]:
        return self._worker.get_health_status()

    async def setup(self) -> None:
        await self._worker.setup()

    async def teardown(self) -> None:
        await self._worker.teardown()


def _service_request(
    request: dict[str, Any], context: dict[str, Any], *, stream: bool
) -> ServiceRequest:
    # Rebuilt without validation: the host parsed and checked these fields.
    return ServiceRequest.model_construct(
        request_id=context["request_id"],
        capability=context["capability"],
        context=request,
        caller=context["caller"],
        deadline_ms=context["deadline_ms"],
        stream=stream,
    )
