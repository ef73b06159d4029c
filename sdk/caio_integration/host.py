"""The hosting runtime: one ``AIUCPService`` instance behind CAIO's service subjects.

``serve(service, "contract.yaml")`` is all an author calls. Underneath,
``ServiceHost``:

- connects to NATS (reconnecting forever) and, unless told not to,
  registers the contract on ``<prefix>.registry.register`` with
  ``CAIO_API_KEY`` (a refusal is logged and serving goes on);
- becomes a NATS micro service named after the service id, one endpoint per
  capability on ``<prefix>.svc.<service_id>.<capability>`` in the queue group
  ``<service_id>``; its metadata names the instance, the contract version,
  the capabilities and the prefix, so ``nats micro ls/info/stats`` show them;
- publishes ``<prefix>.heartbeat.<service_id>`` once it can serve and every
  ``heartbeat_interval_s``, unless the service reports itself unhealthy;
- runs each request in its own task (``caio_integration._dispatch``) and,
  on stop, says so, stops taking requests, lets in-flight work finish, drains.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import re
import signal
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Literal, Self

import nats
from nats.aio.client import Client as NATS
from nats.micro import add_service
from nats.micro.request import Request
from nats.micro.service import EndpointConfig, EndpointStats, Service, ServiceConfig

from caio_integration._dispatch import NATS_FAILURES, Dispatcher
from caio_integration._host_config import DEFAULT_NATS_URL, HostConfig
from caio_integration._liveness import Liveness
from caio_integration._log import get_logger
from caio_integration._natsconn import server_list, subscriptions_settled
from caio_integration.errors import CAIOError
from caio_integration.gctune import settle_after_start
from caio_integration.service import AIUCPService
from caio_integration.subjects import Subjects
from caio_integration.wire import PROTOCOL_VERSION, Registration

__all__ = ["DEFAULT_NATS_URL", "HostConfig", "ServiceHost", "run_until_stopped", "serve"]

# nats.micro requires a semantic version; contracts may say "v2" or "2024-06".
_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$"
)
# The protocol promises a heartbeat at least this often (docs/protocol.md, "Liveness").
_PROTOCOL_HEARTBEAT_S = 5.0
# Without a limit from the config or the contract, one instance executes at
# most this many requests at once; more wait (within their deadline).
_DEFAULT_CONCURRENCY = 64
# After the drain timeout, cancelled requests get this long to send their reply.
_CANCEL_GRACE_S = 1.0

_State = Literal["new", "starting", "running", "stopping", "stopped"]


class ServiceHost:
    """Hosts one service instance on NATS: ``start``/``stop``, ``run``, or ``async with``."""

    def __init__(
        self,
        service: AIUCPService,
        config: HostConfig | None = None,
        *,
        stop_requested: asyncio.Event | None = None,
        implementation: str | None = None,
    ) -> None:
        """``stop_requested``: an event that ends ``run()`` once set (shared with an
        outer runner); ``implementation``: the class name shown in micro metadata."""
        contract = service.contract  # raises if initialize() was not called
        if not any(service.implements(name) for name in contract.capability_names):
            raise ValueError(
                f"{type(service).__name__} implements none of contract {contract.id!r}'s "
                f"capabilities {list(contract.capability_names)}"
            )
        self.service = service
        self.contract = contract
        self.config = config if config is not None else HostConfig.from_env()
        self.service_id: str = contract.id
        self.instance_id: str = self.config.instance_id or f"{contract.id}-{uuid.uuid4().hex[:8]}"
        self.subjects = Subjects(self.config.prefix)
        self._implementation = implementation or type(service).__name__
        #: What the registry answered on start, or the error it refused with.
        self.registration: Registration | None = None
        self.registration_error: CAIOError | None = None
        self._log = get_logger(
            "caio.service", service_id=self.service_id, instance_id=self.instance_id
        )
        self._liveness = Liveness(
            service,
            subject=self.subjects.heartbeat(self.service_id),
            instance_id=self.instance_id,
            interval_s=self.config.heartbeat_interval_s,
            nc=lambda: self._nc,
            log=self._log,
        )
        self._dispatcher = Dispatcher(
            service,
            concurrency=self.config.max_concurrency
            or contract.constraints.max_concurrent_requests
            or _DEFAULT_CONCURRENCY,
            max_payload_bytes=self.config.max_payload_bytes,
            max_reply_bytes=lambda: self._nc.max_payload if self._nc is not None else None,
            healthy=lambda: self._liveness.healthy,
            log=self._log,
        )
        self._state: _State = "new"
        self._nc: NATS | None = None
        self._micro: Service | None = None
        self._in_flight: set[asyncio.Task[None]] = set()
        # Set by a signal, a closed connection or stop(): ends run().
        self.stop_requested = stop_requested if stop_requested is not None else asyncio.Event()
        self._stopped = asyncio.Event()

    @property
    def running(self) -> bool:
        return self._state == "running"

    @property
    def in_flight(self) -> int:
        """Requests accepted and not yet answered."""
        return len(self._in_flight)

    @property
    def nc(self) -> NATS | None:
        """The host's NATS connection while it runs."""
        return self._nc

    # -- lifecycle ---------------------------------------------------------------

    async def start(self) -> None:
        """Set up, connect, register, subscribe every capability, then announce the instance."""
        if self._state != "new":
            raise RuntimeError(f"worker {self.instance_id} was already started")
        self._state = "starting"
        try:
            await self.service.setup()
            self._nc = await nats.connect(
                server_list(self.config.nats_url), **self._connect_options()
            )
            if self.config.register:
                await self._register()
            self._micro = await add_service(self._nc, self._micro_config())
            for capability in self.contract.capability_names:
                await self._micro.add_endpoint(self._endpoint_config(capability))
            await subscriptions_settled(self._nc)
            await self._liveness.beat()  # only now: a router may forward at once
        except BaseException:
            await self._abandon_start()
            raise
        self._liveness.start()
        self._state = "running"
        if self.config.heartbeat_interval_s > _PROTOCOL_HEARTBEAT_S:
            self._log.warning(
                "heartbeat_interval_over_protocol_maximum",
                heartbeat_interval_s=self.config.heartbeat_interval_s,
            )
        self._log.info(
            "service_started",
            capabilities=list(self.contract.capability_names),
            implemented=[c for c in self.contract.capability_names if self.service.implements(c)],
            prefix=self.config.prefix,
        )

    async def stop(self) -> None:
        """Leave gracefully: say so, stop taking requests, finish in-flight work, drain."""
        self.stop_requested.set()
        if self._state in ("stopping", "stopped"):
            await self._stopped.wait()
            return
        if self._state == "new":
            self._state = "stopped"
            self._stopped.set()
            return
        self._state = "stopping"
        self._log.info("service_stopping", in_flight=len(self._in_flight))
        try:
            await self._liveness.stop()
            await self._liveness.publish(stopping=True)
            await self._stop_micro()
            await self._drain_in_flight()
            await self._close_connection()
            await self._run_teardown()
        finally:
            self._state = "stopped"
            self._stopped.set()
        self._log.info("service_stopped")

    async def run(self) -> None:
        """Start, serve until SIGTERM/SIGINT (or ``stop``), then stop gracefully."""
        await run_until_stopped(self.start, self.stop, self.stop_requested)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- NATS and the registry ---------------------------------------------------

    def _connect_options(self) -> dict[str, Any]:
        async def on_error(exc: Exception) -> None:
            self._log.warning("nats_error", error=repr(exc))

        async def on_disconnected() -> None:
            if self._state in ("stopping", "stopped"):
                return  # our own drain closed the connection: nothing to warn about
            self._log.warning("nats_disconnected")

        async def on_reconnected() -> None:
            self._log.info("nats_reconnected")

        async def on_closed() -> None:
            # A connection that gave up reconnecting ends run() instead of
            # leaving an instance that looks alive and serves nothing.
            self.stop_requested.set()

        options: dict[str, Any] = {
            "name": self.instance_id,
            "max_reconnect_attempts": -1,  # a service outlives server restarts
            "error_cb": on_error,
            "disconnected_cb": on_disconnected,
            "reconnected_cb": on_reconnected,
            "closed_cb": on_closed,
        }
        options.update(self.config.connect_options)
        return options

    async def _register(self) -> None:
        """Send the contract to the registry; a refusal is logged, never fatal."""
        from caio_integration.client import CAIOClient  # the client is not needed otherwise

        client = CAIOClient(prefix=self.config.prefix, nc=self._nc, api_key=self.config.api_key)
        try:
            async with client as caio:
                reply = await caio.register_service(
                    self.contract.to_document(), replace=self.config.replace
                )
        except CAIOError as exc:
            self.registration_error = exc
            self._log.error(
                "contract_not_registered",
                code=exc.code,
                reason=exc.message,
                hint="give the service a publisher key (CAIO_API_KEY), register the contract "
                "separately, or set register=False",
            )
            return
        self.registration = reply
        self._log.info("contract_registered", revision=reply.revision)

    def _micro_config(self) -> ServiceConfig:
        version = self.contract.version if _SEMVER.fullmatch(self.contract.version) else "0.0.0"
        return ServiceConfig(
            name=self.service_id,
            version=version,
            description=self.contract.description or self.contract.name,
            metadata={
                "service_id": self.service_id,
                "instance_id": self.instance_id,
                "contract_version": self.contract.version,
                "capabilities": ",".join(self.contract.capability_names),
                "prefix": self.config.prefix,
                "implementation": self._implementation,
                # The name the Synadia Agent Protocol draft gives it; CAIO's protocol is v1.
                "protocol_version": PROTOCOL_VERSION,
            },
            queue_group=self.service_id,
            stats_handler=self._endpoint_data,
        )

    def _endpoint_config(self, capability: str) -> EndpointConfig:
        implemented = self.service.implements(capability)
        return EndpointConfig(
            name=capability,
            handler=self._endpoint_handler(capability),
            queue_group=self.service_id,
            subject=self.subjects.service(self.service_id, capability),
            metadata={
                "implemented": "true" if implemented else "false",
                # As the Synadia Agent Protocol draft writes it: binary units ("1MB").
                "max_payload": _payload_size(self.config.max_payload_bytes),
            },
        )

    def _endpoint_data(self, stats: EndpointStats) -> dict[str, Any]:
        counters = self._dispatcher.counters.get(stats.name)
        data: dict[str, Any] = counters.as_data() if counters is not None else {}
        if self.config.health_in_stats:
            data["health"] = self._liveness.health()
        return data

    def _endpoint_handler(self, capability: str) -> Callable[[Request], Awaitable[None]]:
        # nats-py runs one subscription's callbacks one after another, so a
        # slow request awaited here would serialize every request of the
        # capability. The callback only spawns a tracked task and returns.
        async def on_request(request: Request) -> None:
            task = asyncio.create_task(self._dispatcher.serve(capability, request))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)

        return on_request

    # -- stopping ------------------------------------------------------------------

    async def _stop_micro(self) -> None:
        micro, self._micro = self._micro, None
        if micro is None:
            return
        try:
            await micro.stop()
        except NATS_FAILURES as exc:
            self._log.warning("micro_service_stop_failed", error=repr(exc))

    async def _drain_in_flight(self) -> None:
        pending = set(self._in_flight)
        if not pending:
            return
        _, still_running = await asyncio.wait(pending, timeout=self.config.drain_timeout_s)
        if not still_running:
            return
        self._log.warning(
            "drain_timeout_cancelling_requests",
            count=len(still_running),
            drain_timeout_s=self.config.drain_timeout_s,
        )
        for task in still_running:
            task.cancel()
        # Cancelled requests reply "worker_stopping" before they end.
        await asyncio.wait(still_running, timeout=_CANCEL_GRACE_S)

    async def _close_connection(self) -> None:
        nc, self._nc = self._nc, None
        if nc is None or nc.is_closed:
            return
        try:
            await nc.drain()
        except NATS_FAILURES as exc:
            self._log.warning("nats_drain_failed", error=repr(exc))
            with contextlib.suppress(*NATS_FAILURES):
                await nc.close()

    async def _run_teardown(self) -> None:
        try:
            await self.service.teardown()
        except Exception:  # noqa: BLE001 - a failing hook must not stop the shutdown
            self._log.exception("teardown_failed")

    async def _abandon_start(self) -> None:
        await self._stop_micro()
        await self._close_connection()
        await self._run_teardown()
        self._state = "stopped"
        self._stopped.set()


async def run_until_stopped(
    start: Callable[[], Awaitable[None]],
    stop: Callable[[], Awaitable[None]],
    stop_requested: asyncio.Event,
) -> None:
    """``start()``, wait for SIGTERM/SIGINT or ``stop_requested``, then ``stop()``.

    Once started, the garbage collector is settled for a long-running process
    (caio_integration.gctune; ``CAIO_GC_TUNING=off`` keeps Python's defaults).
    """
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        # Not available on every platform/loop (Windows, non-main thread).
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop_requested.set)
            installed.append(sig)
    try:
        await start()
        settle_after_start()
        await stop_requested.wait()
    finally:
        await stop()
        for sig in installed:
            loop.remove_signal_handler(sig)


async def serve(
    service: AIUCPService,
    contract_path: str | os.PathLike[str] | None = None,
    config: HostConfig | None = None,
    **settings: Any,
) -> None:
    """Initialize ``service`` with its contract file and serve it until SIGTERM/SIGINT.

    ``config`` defaults to ``HostConfig.from_env()`` (``CAIO_NATS_URL``,
    ``CAIO_PREFIX``, ``CAIO_API_KEY``); ``settings`` override its fields, e.g.
    ``serve(svc, "svc.yaml", nats_url="nats://nats:4222", register=False)``.
    Without ``contract_path`` the service must have its contract already.
    """
    if contract_path is not None:
        service.initialize(contract_path)
    base = config if config is not None else HostConfig.from_env()
    if settings:
        base = dataclasses.replace(base, **settings)
    await ServiceHost(service, base).run()


def _payload_size(size: int) -> str:
    """``1048576`` -> ``"1MB"``: the largest binary unit that divides the size exactly."""
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if size % scale == 0:
            return f"{size // scale}{unit}"
    return f"{size}B"
