"""The bridge worker: one AI service behind CAIO's service subjects.

A worker is built from the service's contract and a ``WorkerConfig``. Started,
it becomes a NATS micro service named after the service id, with one endpoint
per capability of the contract on ``<prefix>.svc.<service_id>.<capability>``
in the queue group ``<service_id>`` (so instances share the load and
``nats micro ls`` lists it), and it publishes ``<prefix>.heartbeat.<service_id>``
so the router knows it is alive (PROTOCOL.md, "Service subjects", "Liveness").

Subclasses only implement ``handle``; this module owns the wire: decoding,
validation, deadlines, error replies, concurrency, heartbeats and a graceful
stop that lets in-flight work finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ClassVar, Literal, Self

import nats
import nats.errors
import structlog
from nats.aio.client import Client as NATS
from nats.micro import add_service
from nats.micro.request import Request
from nats.micro.service import EndpointConfig, EndpointStats, Service, ServiceConfig

from caio_integration._bridge_config import DEFAULT_NATS_URL, WorkerConfig, WorkResult
from caio_integration._json import decode_object, dumps, error_reply
from caio_integration._natsconn import server_list, subscriptions_settled
from caio_integration.contracts.model import ServiceContract
from caio_integration.errors import (
    CAIOError,
    InvalidRequest,
    ServiceError,
    ServiceUnavailable,
    Timeout,
)
from caio_integration.subjects import Subjects
from caio_integration.wire import ServiceRequest, now_ms, parse

__all__ = ["DEFAULT_NATS_URL", "BridgeWorker", "WorkResult", "WorkerConfig"]

# nats.micro requires a semantic version; contracts may say "v2" or "2024-06".
_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$"
)
# The protocol promises a heartbeat at least this often (PROTOCOL.md, "Liveness").
_PROTOCOL_HEARTBEAT_S = 5.0
# Without a limit from the config or the contract, one instance runs at most
# this many handlers at once; more requests wait (within their deadline).
_DEFAULT_CONCURRENCY = 64
# After the drain timeout, cancelled handlers get this long to send their reply.
_CANCEL_GRACE_S = 1.0

# What a publish/flush/unsubscribe/drain raises when the connection is gone,
# slow or closed; the worker logs these and carries on.
_NATS_FAILURES: tuple[type[BaseException], ...] = (nats.errors.Error, OSError, TimeoutError)

_State = Literal["new", "starting", "running", "stopping", "stopped"]


@dataclass(slots=True)
class _Counters:
    """Per-capability outcomes, shown in ``$SRV.STATS`` as the endpoint's ``data``.

    nats.micro counts requests itself but only sees errors a handler raises;
    ours reply with CAIO error bodies instead, so we count them here.
    """

    ok: int = 0
    errors: int = 0
    in_flight: int = 0

    def as_data(self) -> dict[str, int]:
        return {"ok": self.ok, "errors": self.errors, "in_flight": self.in_flight}


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
        self._log = structlog.get_logger("caio.workers").bind(
            service_id=self.service_id, instance_id=self.instance_id
        )
        concurrency = (
            config.max_concurrency
            or contract.constraints.max_concurrent_requests
            or _DEFAULT_CONCURRENCY
        )
        self._limit = asyncio.Semaphore(concurrency)
        self._counters = {cap: _Counters() for cap in contract.capability_names}
        self._state: _State = "new"
        self._nc: NATS | None = None
        self._service: Service | None = None
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._in_flight: set[asyncio.Task[None]] = set()
        self._stop_requested = asyncio.Event()
        self._stopped = asyncio.Event()

    # -- what subclasses provide -------------------------------------------

    @abstractmethod
    async def handle(self, capability: str, request: ServiceRequest) -> WorkResult:
        """Do the work; raise a ``caio_integration.errors.CAIOError`` subclass to fail."""

    async def setup(self) -> None:  # noqa: B027 - an optional hook, empty on purpose
        """Called by ``start`` before connecting: check tools, open clients."""

    async def teardown(self) -> None:  # noqa: B027 - an optional hook, empty on purpose
        """Called by ``stop`` after the last request was answered."""

    # -- lifecycle -----------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._state == "running"

    @property
    def in_flight(self) -> int:
        """Requests accepted and not yet answered."""
        return len(self._in_flight)

    async def start(self) -> None:
        """Connect, subscribe every capability, then announce the instance."""
        if self._state != "new":
            raise RuntimeError(f"worker {self.instance_id} was already started")
        self._state = "starting"
        try:
            await self.setup()
            self._nc = await nats.connect(
                server_list(self.config.nats_url), **self._connect_options()
            )
            self._service = await add_service(self._nc, self._service_config())
            for capability in self.contract.capability_names:
                await self._service.add_endpoint(self._endpoint_config(capability))
            await subscriptions_settled(self._nc)
            await self._publish_heartbeat()
        except BaseException:
            await self._abandon_start()
            raise
        self._heartbeat_task = asyncio.create_task(
            self._heartbeat_loop(), name=f"heartbeat-{self.instance_id}"
        )
        self._state = "running"
        if self.config.heartbeat_interval_s > _PROTOCOL_HEARTBEAT_S:
            self._log.warning(
                "heartbeat interval is longer than the protocol's 5 s",
                heartbeat_interval_s=self.config.heartbeat_interval_s,
            )
        self._log.info(
            "worker started",
            capabilities=list(self.contract.capability_names),
            implemented=sorted(self.implemented_capabilities & set(self._counters)),
            prefix=self.config.prefix,
        )

    async def stop(self) -> None:
        """Leave gracefully: say so, stop taking requests, finish in-flight work, drain."""
        self._stop_requested.set()
        if self._state in ("stopping", "stopped"):
            await self._stopped.wait()
            return
        if self._state == "new":
            self._state = "stopped"
            self._stopped.set()
            return
        self._state = "stopping"
        self._log.info("worker stopping", in_flight=len(self._in_flight))
        try:
            await self._cancel_heartbeats()
            await self._publish_heartbeat(stopping=True)
            await self._stop_service()
            await self._drain_in_flight()
            await self._close_connection()
            await self._run_teardown()
        finally:
            self._state = "stopped"
            self._stopped.set()
        self._log.info("worker stopped")

    async def run(self) -> None:
        """Start, serve until SIGTERM/SIGINT (or ``stop``), then stop gracefully."""
        loop = asyncio.get_running_loop()
        installed: list[signal.Signals] = []
        for sig in (signal.SIGTERM, signal.SIGINT):
            # Not available on every platform/loop (Windows, non-main thread).
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self._stop_requested.set)
                installed.append(sig)
        try:
            await self.start()
            await self._stop_requested.wait()
        finally:
            await self.stop()
            for sig in installed:
                loop.remove_signal_handler(sig)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- NATS setup ----------------------------------------------------------

    def _connect_options(self) -> dict[str, Any]:
        async def on_error(exc: Exception) -> None:
            self._log.warning("nats error", error=repr(exc))

        async def on_disconnected() -> None:
            if self._state in ("stopping", "stopped"):
                return  # our own drain closed the connection: nothing to warn about
            self._log.warning("nats disconnected")

        async def on_reconnected() -> None:
            self._log.info("nats reconnected")

        async def on_closed() -> None:
            # A connection that gave up reconnecting ends run() instead of
            # leaving a worker that looks alive and serves nothing.
            self._stop_requested.set()

        options: dict[str, Any] = {
            "name": self.instance_id,
            "max_reconnect_attempts": -1,  # a worker outlives server restarts
            "error_cb": on_error,
            "disconnected_cb": on_disconnected,
            "reconnected_cb": on_reconnected,
            "closed_cb": on_closed,
        }
        options.update(self.config.connect_options)
        return options

    def _service_config(self) -> ServiceConfig:
        version = self.contract.version if _SEMVER.fullmatch(self.contract.version) else "0.0.0"
        return ServiceConfig(
            name=self.service_id,
            version=version,
            description=self.contract.description or self.contract.name,
            metadata={
                "instance_id": self.instance_id,
                "service_id": self.service_id,
                "contract_version": self.contract.version,
                "prefix": self.config.prefix,
                "worker": type(self).__name__,
            },
            queue_group=self.service_id,
            stats_handler=self._endpoint_data,
        )

    def _endpoint_config(self, capability: str) -> EndpointConfig:
        implemented = capability in self.implemented_capabilities
        return EndpointConfig(
            name=capability,
            handler=self._endpoint_handler(capability),
            queue_group=self.service_id,
            subject=self.subjects.service(self.service_id, capability),
            metadata={"implemented": "true" if implemented else "false"},
        )

    def _endpoint_data(self, stats: EndpointStats) -> dict[str, int]:
        counters = self._counters.get(stats.name)
        return counters.as_data() if counters is not None else {}

    def _endpoint_handler(self, capability: str) -> Callable[[Request], Awaitable[None]]:
        # nats-py runs one subscription's callbacks one after another, so a
        # slow handler awaited here would serialize every request of the
        # capability. The callback only spawns a tracked task and returns.
        async def on_request(request: Request) -> None:
            task = asyncio.create_task(self._serve(capability, request))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)

        return on_request

    # -- one request -----------------------------------------------------------

    async def _serve(self, capability: str, message: Request) -> None:
        counters = self._counters[capability]
        counters.in_flight += 1
        try:
            try:
                request = self._decode(message.data)
            except CAIOError as exc:
                counters.errors += 1
                await self._respond(message, dumps(error_reply(exc)))
                return
            try:
                reply, ok = await self._dispatch(capability, request)
            except asyncio.CancelledError:
                # stop() ran out of drain time: answer rather than go silent.
                counters.errors += 1
                stopping = ServiceUnavailable(
                    "the worker stopped before the request finished",
                    details={"reason": "worker_stopping"},
                )
                await self._respond(message, dumps(error_reply(stopping, request.request_id)))
                raise
            if ok:
                counters.ok += 1
            else:
                counters.errors += 1
            await self._respond(message, reply)
        finally:
            counters.in_flight -= 1

    def _decode(self, payload: bytes) -> ServiceRequest:
        body = decode_object(payload, max_bytes=self.config.max_payload_bytes)
        try:
            return parse(ServiceRequest, body)
        except CAIOError as exc:
            request_id = body.get("request_id")
            if isinstance(request_id, str):
                exc.request_id = request_id
            raise

    async def _dispatch(self, capability: str, request: ServiceRequest) -> tuple[bytes, bool]:
        """The encoded reply and whether it is a success."""
        try:
            work = await self._checked_work(capability, request)
            reply: dict[str, Any] = {
                "status": "ok",
                "request_id": request.request_id,
                "result": work.result,
                "usage": work.usage,
            }
            encoded = self._encode_result(reply)
            return encoded, True
        except CAIOError as exc:
            error = exc
        except Exception as exc:  # noqa: BLE001 - any bug becomes service_error, never a crash
            self._log.exception(
                "handler failed unexpectedly", capability=capability, request_id=request.request_id
            )
            error = ServiceError(
                f"{self.service_id} failed unexpectedly ({type(exc).__name__})",
                details={"reason": "unexpected_error"},
            )
        self._log.debug(
            "request failed", capability=capability, request_id=request.request_id, code=error.code
        )
        return dumps(error_reply(error, request.request_id)), False

    async def _checked_work(self, capability: str, request: ServiceRequest) -> WorkResult:
        if request.capability != capability:
            raise InvalidRequest(
                f"capability {request.capability!r} in the body does not match "
                f"the subject's {capability!r}",
                details={"capability": request.capability, "subject_capability": capability},
            )
        deadline = request.deadline_ms
        if deadline is not None and now_ms() >= deadline:
            raise Timeout(
                "the request's deadline passed before the work started",
                details={"reason": "deadline_passed", "deadline_ms": deadline},
            )
        if capability not in self.implemented_capabilities:
            raise ServiceError(
                f"{self.service_id} lists {capability!r} in its contract "
                "but this worker does not implement it",
                details={"reason": "capability_not_implemented", "capability": capability},
                retryable=False,
            )
        work = await self._run_handler(capability, request, deadline)
        if not isinstance(work, WorkResult):
            raise TypeError(f"handle() returned {type(work).__name__}, not WorkResult")
        return work

    async def _run_handler(
        self, capability: str, request: ServiceRequest, deadline_ms: int | None
    ) -> WorkResult:
        started = time.perf_counter()
        when = None
        if deadline_ms is not None:
            # The deadline is wall-clock; the loop's clock is monotonic.
            when = asyncio.get_running_loop().time() + (deadline_ms - now_ms()) / 1000
        scope = asyncio.timeout_at(when)
        try:
            async with scope, self._limit:
                work = await self.handle(capability, request)
        except TimeoutError:
            if not scope.expired():
                raise
            raise Timeout(
                "the request's deadline passed while the worker was working",
                details={"reason": "deadline_exceeded", "deadline_ms": deadline_ms},
            ) from None
        self._log.debug(
            "request served",
            capability=capability,
            request_id=request.request_id,
            ms=round((time.perf_counter() - started) * 1000, 1),
        )
        return work

    def _encode_result(self, reply: dict[str, Any]) -> bytes:
        try:
            encoded = dumps(reply)
        except TypeError as exc:  # orjson.JSONEncodeError is a TypeError
            raise ServiceError(
                f"{self.service_id} produced a result that is not JSON: {exc}",
                details={"reason": "unserializable_result"},
            ) from None
        limit = self._nc.max_payload if self._nc is not None else len(encoded)
        if len(encoded) > limit:
            raise ServiceError(
                f"the result is {len(encoded)} bytes; NATS carries at most {limit}",
                details={"reason": "result_too_large", "size": len(encoded), "limit": limit},
            )
        return encoded

    async def _respond(self, message: Request, payload: bytes) -> None:
        try:
            await message.respond(payload)
        except ValueError:
            self._log.debug("request had no reply subject; reply dropped")
        except _NATS_FAILURES as exc:
            # The connection is gone; the router counts this as a failed attempt.
            self._log.warning("reply not sent", error=repr(exc))

    # -- heartbeats --------------------------------------------------------------

    async def _publish_heartbeat(self, *, stopping: bool = False) -> None:
        if self._nc is None:
            return
        beat: dict[str, Any] = {
            "service_id": self.service_id,
            "instance_id": self.instance_id,
            "ts": time.time(),
        }
        if stopping:
            beat["stopping"] = True  # extension: the router drops this instance at once
        try:
            await self._nc.publish(self.subjects.heartbeat(self.service_id), dumps(beat))
            if stopping:
                await self._nc.flush(timeout=2)
        except _NATS_FAILURES as exc:
            # A missed beat is survivable (the window is 3 intervals); a
            # crashed heartbeat loop is not.
            self._log.warning("heartbeat not sent", error=repr(exc), stopping=stopping)

    async def _heartbeat_loop(self) -> None:
        interval = self.config.heartbeat_interval_s
        while True:
            await asyncio.sleep(interval)
            await self._publish_heartbeat()

    async def _cancel_heartbeats(self) -> None:
        task, self._heartbeat_task = self._heartbeat_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- stopping ----------------------------------------------------------------

    async def _stop_service(self) -> None:
        service, self._service = self._service, None
        if service is None:
            return
        try:
            await service.stop()
        except _NATS_FAILURES as exc:
            self._log.warning("micro service did not stop cleanly", error=repr(exc))

    async def _drain_in_flight(self) -> None:
        pending = set(self._in_flight)
        if not pending:
            return
        _, still_running = await asyncio.wait(pending, timeout=self.config.drain_timeout_s)
        if not still_running:
            return
        self._log.warning(
            "drain timeout reached; cancelling unfinished requests",
            count=len(still_running),
            drain_timeout_s=self.config.drain_timeout_s,
        )
        for task in still_running:
            task.cancel()
        # Cancelled tasks reply "worker_stopping" before they end.
        await asyncio.wait(still_running, timeout=_CANCEL_GRACE_S)

    async def _close_connection(self) -> None:
        nc, self._nc = self._nc, None
        if nc is None or nc.is_closed:
            return
        try:
            await nc.drain()
        except _NATS_FAILURES as exc:
            self._log.warning("nats drain failed; closing", error=repr(exc))
            with contextlib.suppress(*_NATS_FAILURES):
                await nc.close()

    async def _run_teardown(self) -> None:
        try:
            await self.teardown()
        except Exception:  # noqa: BLE001 - a failing hook must not stop the shutdown
            self._log.exception("teardown failed")

    async def _abandon_start(self) -> None:
        await self._stop_service()
        await self._close_connection()
        await self._run_teardown()
        self._state = "stopped"
        self._stopped.set()
