"""The router: serves the registry and route subjects on one NATS connection.

Several routers may run at once: they share the registry (KV) and the audit
stream, and take requests from queue groups, so each request is handled by
one of them. Heartbeats are a plain subscription: every router must see
every heartbeat.

The hot path is raw nats-py (measured: several times the throughput of a
framework subscriber). Each message gets its own task so a slow service
does not hold up the next request; ``max_in_flight`` bounds them, and when
it is reached the subscription's own pending buffer applies backpressure.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import nats
import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.errors import NoStreamResponseError
from nats.js.errors import ServiceUnavailableError as JetStreamUnavailable

from caio_broker.assembly import RouterParts, assemble
from caio_broker.audit import AuditSettings
from caio_broker.auth.guard import ANONYMOUS, Caller
from caio_broker.auth.keys import KeyStore
from caio_broker.breaker import Breakers, BreakerSettings
from caio_broker.catalog import Catalog
from caio_broker.discovery import discover_live_workers
from caio_broker.forwarding import ForwardSettings
from caio_broker.health import ServiceHealth
from caio_broker.jobs import JobRunner, JobSettings
from caio_broker.liveness import Liveness
from caio_broker.metrics import MetricsSettings, RouterMetrics
from caio_broker.observed import ObservedSettings, ObservedStats
from caio_broker.registry import RegistryContext
from caio_broker.routing import RouteHandler, RouteSettings
from caio_broker.store import StoredContract
from caio_integration._json import decode_object
from caio_integration._natsconn import server_list, subscriptions_settled
from caio_integration.contracts import ServiceContract
from caio_integration.defaults import DEFAULT_NATS_URL
from caio_integration.errors import CAIOError, Forbidden, ServiceUnavailable, Unauthenticated
from caio_integration.subjects import Subjects
from caio_integration.wire import (
    AuditRecord,
    ErrorReply,
    Heartbeat,
    ReplyBody,
    error_reply,
    new_request_id,
    parse,
)
from caio_integration.wire.headers import micro_error_headers

__all__ = ["Router", "RouterConfig"]

# What a registry or key operation raises when JetStream does not answer: a
# timeout, no stream leader (no responders), or JetStream itself unavailable.
_STORE_UNAVAILABLE = (NatsTimeoutError, NoStreamResponseError, JetStreamUnavailable)

log = structlog.get_logger("caio.router")


@dataclass(slots=True)
class AuthSettings:
    """Caller authentication (on unless explicitly switched off) and the governance hook."""

    required: bool = True  # `caio router --insecure-no-auth` turns it off, loudly
    policy_hook: str | None = None  # "module:function", called before matching
    policy_subject: str | None = None  # or a policy service asked over NATS
    hook_timeout_s: float = 0.5


@dataclass(slots=True)
class RouterConfig:
    nats_url: str = DEFAULT_NATS_URL
    prefix: str = "caio"
    queue_group: str = "caio-router"
    max_in_flight: int = 2048
    liveness_window_s: float = 15.0
    # How long start-up listens for workers answering its $SRV.PING (0: do not ask).
    discovery_window_s: float = 1.0
    drain_timeout_s: float = 10.0
    replicas: int = (
        1  # JetStream replicas for the registry bucket and audit stream (3 on a cluster)
    )
    route: RouteSettings = field(default_factory=RouteSettings)
    forward: ForwardSettings = field(default_factory=ForwardSettings)
    audit: AuditSettings = field(default_factory=AuditSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    breaker: BreakerSettings = field(default_factory=BreakerSettings)  # per router
    observed: ObservedSettings = field(default_factory=ObservedSettings)
    jobs: JobSettings = field(default_factory=JobSettings)  # durable jobs (docs/jobs.md)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)  # Prometheus, off
    connect_options: dict[str, Any] = field(default_factory=dict)
    # Reply subjects the router answers: client inboxes (nats-py's inbox_prefix
    # must start with one of these). Anything else is refused: see _respond.
    reply_prefixes: tuple[str, ...] = ("_INBOX.", "_INBOX_")


class Router:
    def __init__(self, config: RouterConfig) -> None:
        self.config = config
        self.subjects = Subjects(config.prefix)
        self.catalog = Catalog()
        self.liveness = Liveness(config.liveness_window_s)
        self.health = ServiceHealth(
            self.liveness,
            Breakers(config.breaker),
            ObservedStats(config.observed),
            report=self._report_guarantee,
        )
        self._parts: RouterParts | None = None  # set while started
        self.jobs: JobRunner | None = None
        self.metrics: RouterMetrics | None = None  # while serving /metrics
        self._subscriptions: list[Subscription] = []
        self._in_flight: set[asyncio.Task[None]] = set()
        self._discovery: asyncio.Task[int] | None = None
        self._slots = asyncio.Semaphore(config.max_in_flight)
        self._stopped = asyncio.Event()

    @property
    def parts(self) -> RouterParts:
        if self._parts is None:
            raise RuntimeError("router is not started")
        return self._parts

    @property
    def nc(self) -> NATS:
        return self.parts.nc

    @property
    def keys(self) -> KeyStore | None:
        return self._parts.keys if self._parts is not None else None

    @property
    def routes(self) -> RouteHandler | None:
        return self._parts.routes if self._parts is not None else None

    async def start(self) -> None:
        cfg = self.config
        options: dict[str, Any] = {
            "name": "caio-router",
            "max_reconnect_attempts": -1,  # a router outlives server restarts
            "error_cb": self._on_nats_error,
            "disconnected_cb": self._on_disconnected,
            "reconnected_cb": self._on_reconnected,
        }
        options.update(cfg.connect_options)
        nc = await nats.connect(server_list(cfg.nats_url), **options)
        self._parts = parts = await assemble(nc, cfg, self.subjects, self.catalog, self.health)
        if cfg.metrics.port is not None:
            self.metrics = self._serve_metrics(parts)

        # Heartbeats first, then the registry replay: by the time requests are
        # taken, the catalog holds every stored contract.
        self._subscriptions.append(
            await nc.subscribe(self.subjects.heartbeat_all, cb=self._on_heartbeat)
        )
        if cfg.discovery_window_s > 0:
            # Workers already running answer within milliseconds; no waiting for heartbeats.
            self._discovery = asyncio.create_task(
                discover_live_workers(nc, cfg.prefix, self.liveness, cfg.discovery_window_s)
            )
        await parts.store.watch(self._on_stored, self._on_deleted)
        self._subscriptions.append(
            await nc.subscribe(
                self.subjects.registry_all, queue=cfg.queue_group, cb=self._on_registry
            )
        )
        self._subscriptions.append(
            await nc.subscribe(self.subjects.keys_all, queue=cfg.queue_group, cb=self._on_keys)
        )
        self._subscriptions.append(
            await nc.subscribe(self.subjects.route_all, queue=cfg.queue_group, cb=self._on_route)
        )
        if cfg.jobs.enabled:
            self.jobs = JobRunner(
                nc.jetstream(),
                self.subjects,
                parts.routes,
                parts.audit,
                cfg.jobs,
                parts.requests,
                cfg.replicas,
            )
            await self.jobs.start()
        await subscriptions_settled(nc)
        log.info(
            "router_started",
            nats_url=cfg.nats_url,
            prefix=cfg.prefix,
            services=len(self.catalog),
            pid=os.getpid(),  # several routers log to one place (caio router --processes)
        )

    async def stop(self) -> None:
        """Stop taking requests, finish those in flight (bounded), then drain."""
        if self.jobs is not None:
            # First, while routing still works: running jobs finish, the rest go back.
            await self.jobs.stop(self.config.drain_timeout_s)
            self.jobs = None
        parts = self._parts
        if parts is None:
            return
        if self._discovery is not None:
            self._discovery.cancel()
            await asyncio.gather(self._discovery, return_exceptions=True)
        for sub in self._subscriptions:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        self._subscriptions.clear()
        if self._in_flight:
            _, pending = await asyncio.wait(
                set(self._in_flight), timeout=self.config.drain_timeout_s
            )
            for task in pending:
                task.cancel()
        await parts.audit.close()
        await parts.limits.close()
        await parts.store.close()
        await parts.keys.close()
        with contextlib.suppress(Exception):
            await parts.nc.drain()
        self._parts = None
        if self.metrics is not None:
            self.metrics.close()
            self.metrics = None
        self._stopped.set()
        log.info("router_stopped")

    def _serve_metrics(self, parts: RouterParts) -> RouterMetrics:
        metrics = RouterMetrics()
        parts.audit.metrics = metrics
        parts.routes.metrics = metrics
        metrics.watch_circuits(self.health.breakers.open_services)
        port = metrics.serve(self.config.metrics)
        log.info("metrics_serving", url=f"http://{self.config.metrics.host}:{port}/metrics")
        return metrics

    async def wait_stopped(self) -> None:
        await self._stopped.wait()

    # -- connection events --------------------------------------------------

    async def _on_nats_error(self, exc: Exception) -> None:
        log.warning("nats_error", error=repr(exc))

    async def _on_disconnected(self) -> None:
        if not self._stopped.is_set() and self._subscriptions:
            log.warning("nats_disconnected")

    async def _on_reconnected(self) -> None:
        log.info("nats_reconnected")

    # -- message handling -------------------------------------------------

    async def _spawn(self, msg: Msg, work: Any) -> None:
        await self._slots.acquire()
        task = asyncio.create_task(work(msg))
        self._in_flight.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._slots.release()
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("handler_crashed", error=repr(exc))

    async def _on_route(self, msg: Msg) -> None:
        await self._spawn(msg, self._route)

    async def _on_registry(self, msg: Msg) -> None:
        await self._spawn(msg, self._registry_op)

    async def _on_keys(self, msg: Msg) -> None:
        await self._spawn(msg, self._keys_op)

    async def _route(self, msg: Msg) -> None:
        capability = self.subjects.name_in(msg.subject, "route")
        # Where a streamed answer's chunks go: the same reply subject as the final reply.
        publish = partial(self.nc.publish, msg.reply) if self._may_answer(msg) else None
        reply = await self.parts.routes.handle(capability, msg.data, msg.headers, publish)
        await self._respond(msg, reply)

    async def _registry_op(self, msg: Msg) -> None:
        operation = self.subjects.name_in(msg.subject, "registry")
        registry = self.parts.registry

        async def run(body: dict[str, Any], caller: Caller, request_id: str) -> ReplyBody:
            return await registry.handle(operation, body, RegistryContext(request_id, caller))

        await self._respond(msg, await self._admin_op(msg, "registry", operation, run))

    async def _keys_op(self, msg: Msg) -> None:
        operation = self.subjects.name_in(msg.subject, "keys")
        admin = self.parts.key_admin

        async def run(body: dict[str, Any], caller: Caller, request_id: str) -> ReplyBody:
            return await admin.handle(operation, body, caller, request_id)

        await self._respond(msg, await self._admin_op(msg, "keys", operation, run))

    async def _admin_op(
        self,
        msg: Msg,
        area: str,
        operation: str,
        run: Callable[[dict[str, Any], Caller, str], Awaitable[ReplyBody]],
    ) -> ReplyBody:
        """Authenticate, decode, run; denials are audited, every failure answered."""
        parts = self.parts
        request_id: str | None = None
        caller = ANONYMOUS
        try:
            caller = parts.guard.authenticator.authenticate(msg.headers)
            body = decode_object(msg.data or b"{}", max_bytes=self.config.route.max_payload_bytes)
            raw_id = body.get("request_id")
            request_id = raw_id if isinstance(raw_id, str) else new_request_id()
            return await run(body, caller, request_id)
        except (Unauthenticated, Forbidden) as exc:
            try:
                await parts.audit.record(
                    AuditRecord(
                        kind="denied",
                        outcome="denied",
                        request_id=request_id,
                        caller=caller.name,
                        error=exc.to_error(),
                        operation=f"{area}.{operation}",
                    )
                )
            except CAIOError as audit_error:
                return error_reply(audit_error, request_id)
            return error_reply(exc, request_id)
        except CAIOError as exc:
            return error_reply(exc, request_id)
        except _STORE_UNAVAILABLE as exc:
            # JetStream did not answer for the registry or key bucket (on a cluster:
            # a node lost, its leader being elected): nothing was changed, say so.
            log.warning("store_unavailable", area=area, operation=operation, error=repr(exc))
            unavailable = ServiceUnavailable(
                f"the {area} store (JetStream) did not answer ({type(exc).__name__}); "
                "nothing was changed, retry",
                retryable=True,
            )
            return error_reply(unavailable, request_id)
        except Exception as exc:  # a bug must answer `internal`, not go silent
            log.exception("operation_failed", area=area, operation=operation)
            return error_reply(CAIOError(f"internal error: {type(exc).__name__}"), request_id)

    async def _report_guarantee(
        self, service_id: str, violated: bool, details: dict[str, Any]
    ) -> None:
        """One audit record per change of state: violated, or kept again."""
        if self._parts is None:
            return
        state = "violated" if violated else "restored"
        log.warning("guarantee_" + state, service_id=service_id, **details)
        # The audit log logs its own failures; a route must not fail for a report.
        with contextlib.suppress(CAIOError):
            await self._parts.audit.record(
                AuditRecord(
                    kind="guarantee_violation",
                    outcome="error" if violated else "ok",
                    request_id=None,
                    service_id=service_id,
                    decision={"state": state, **details},
                )
            )

    def _may_answer(self, msg: Msg) -> bool:
        """Whether ``msg`` has a reply subject the router may publish to."""
        if not msg.reply:
            return False  # published without a reply subject: nobody to answer
        # A reply subject is the caller's choice and the router publishes to it with
        # its own rights: answering "$KV.CAIO_REGISTRY.x" or "caio.audit.y" would let
        # a caller write where only the router may. Inboxes only.
        return msg.reply.startswith(self.config.reply_prefixes)

    async def _respond(self, msg: Msg, reply: ReplyBody) -> None:
        if not self._may_answer(msg):
            if msg.reply:
                log.warning("reply_subject_refused", subject=msg.subject, reply=msg.reply[:80])
            return
        try:
            # Not msg.respond: nats-py copies the request's headers into the reply,
            # which would send the caller's API key back over the bus.
            headers = (
                micro_error_headers(reply.error.code, reply.error.message)
                if isinstance(reply, ErrorReply)
                else None
            )
            await self.nc.publish(msg.reply, reply.to_json(), headers=headers)
        except Exception as exc:  # noqa: BLE001 - the caller went away; nothing else to do
            log.debug("reply_failed", error=repr(exc))

    async def _on_heartbeat(self, msg: Msg) -> None:
        subject_id = self.subjects.name_in(msg.subject, "heartbeat")
        rejections = self.health.rejections
        try:
            beat = parse(Heartbeat, decode_object(msg.data, max_bytes=4096))
        except CAIOError as exc:
            reason = "; ".join(exc.details.get("errors", [])) or exc.message
            rejections.rejected("heartbeat", subject_id, reason, subject=msg.subject[:200])
            return
        if beat.service_id != subject_id:
            # A heartbeat must come on its own service's subject (bus permissions
            # are written per subject).
            reason = f"service_id {beat.service_id!r} arrived on {msg.subject[:200]!r}"
            rejections.rejected("heartbeat", subject_id, reason)
            return
        rejections.accepted("heartbeat", subject_id)
        self.liveness.beat(beat.service_id, beat.instance_id, stopping=beat.stopping)

    async def _on_stored(self, stored: StoredContract) -> None:
        # Stored contracts were validated on the way in; skip the JSON Schema pass
        # (it dominates start-up with many contracts) and only rebuild the model.
        contract = ServiceContract.model_validate(stored.document["service"])
        self.catalog.put(contract, stored.revision)

    async def _on_deleted(self, service_id: str, revision: int) -> None:
        self.catalog.delete(service_id, revision)
