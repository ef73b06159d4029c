"""``<prefix>.route.<capability>``: decide, forward, audit, answer.

Every outcome (answered, failed, no match, invalid input, dry run) writes
exactly one audit record, acknowledged by JetStream before the reply goes
out. Invalid input never reaches matching; matching never calls a service
on a dry run. Whatever fails on the way (a JetStream call that times out,
a bug), the caller gets an error reply and the failure an audit record;
only when the audit stream itself refuses is there no record, and then
the reply says so.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

from caio_broker.audit import AuditLog, AuditUnavailable
from caio_broker.auth.guard import Caller, RouteCheck, RouteGuard
from caio_broker.auth.keys import ApiKey
from caio_broker.budgets import SpendBook
from caio_broker.cache import ResponseCache, cache_key
from caio_broker.catalog import Catalog
from caio_broker.fairshare import KeyShares, over_share
from caio_broker.forwarding import Forwarder, ForwardResult
from caio_broker.health import ServiceHealth
from caio_broker.matching import Decision, Exclusion, MatchQuery, match
from caio_broker.routecall import RouteCall
from caio_broker.streaming import Publish, StreamRelay
from caio_broker.verdicts import verdict_of
from caio_integration._json import decode_object
from caio_integration.errors import CAIOError, InvalidRequest, NoMatchingService
from caio_integration.pricing import price_of
from caio_integration.subjects import is_safe_token
from caio_integration.tracing import span, traceparent_of
from caio_integration.wire import (
    AuditOutcome,
    Candidate,
    DryRunReply,
    ErrorReply,
    RouteReply,
    RouteRequest,
    error_reply,
    new_request_id,
    parse,
)

if TYPE_CHECKING:
    from caio_broker.metrics import RouterMetrics

__all__ = ["RouteAnswer", "RouteHandler", "RouteSettings"]

RouteAnswer = RouteReply | DryRunReply | ErrorReply

log = structlog.get_logger("caio.routing")


@dataclass(frozen=True, slots=True)
class RouteSettings:
    max_payload_bytes: int = 256 * 1024
    # The best service plus this many fallbacks at most: the forwarder tries them in
    # order, and stopping the scan there keeps a decision's cost off the registry size.
    max_candidates: int = 5
    # Route requests one API key may have in flight at this router (caio_broker.fairshare):
    # None is a quarter of the router's max_in_flight, 0 no limit.
    max_in_flight_per_key: int | None = None


class RouteHandler:
    __slots__ = (
        "_audit",
        "_cache",
        "_catalog",
        "_forwarder",
        "_guard",
        "_health",
        "_settings",
        "_shares",
        "_spend",
        "metrics",
    )

    def __init__(
        self,
        catalog: Catalog,
        health: ServiceHealth,
        forwarder: Forwarder,
        audit: AuditLog,
        guard: RouteGuard,
        settings: RouteSettings,
        shares: KeyShares | None = None,
        spend: SpendBook | None = None,
        cache: ResponseCache | None = None,
    ) -> None:
        self._catalog = catalog
        self._health = health
        self._forwarder = forwarder
        self._audit = audit
        self._guard = guard
        self._settings = settings
        self._shares = shares  # None: no per-key share (caio_broker.fairshare)
        self._spend = spend  # budgeted keys' totals (caio_broker.budgets)
        self._cache = cache  # reusable answers (caio_broker.cache)
        self.metrics: RouterMetrics | None = None  # times decisions when metrics are served

    async def handle(
        self,
        capability: str,
        payload: bytes,
        headers: Mapping[str, str] | None = None,
        publish: Publish | None = None,
    ) -> RouteAnswer:
        """The reply for one route request; never raises.

        ``publish`` sends to the caller's reply subject: a request with
        ``stream: true`` gets its chunks there before this final reply.
        """
        call = RouteCall.arrived(capability if is_safe_token(capability) else None)
        call.traceparent = traceparent_of(headers)
        try:
            with span("caio.route", call.traceparent, {"caio.capability": capability}):
                return await self._handle(call, capability, payload, headers, publish)
        except AuditUnavailable as exc:  # nothing can be recorded: say so, claim nothing
            return error_reply(exc, call.request_id)
        except Exception as exc:  # noqa: BLE001 - every failure is answered and audited
            return await self._failed_unexpectedly(call, exc)

    async def _handle(
        self,
        call: RouteCall,
        capability: str,
        payload: bytes,
        headers: Mapping[str, str] | None,
        publish: Publish | None,
    ) -> RouteAnswer:
        try:
            caller = self._guard.authenticator.authenticate(headers)
        except CAIOError as exc:  # who is asking comes first: nothing else is read
            return await self._denied(call, exc)
        call.caller = caller.name
        call.key = caller.key
        shares = self._shares
        if shares is None or caller.key is None:
            return await self._checked(call, capability, payload, caller, publish)
        key_id = caller.key.key_id
        if not shares.take(key_id):
            return await self._denied(call, over_share(caller.name, shares.limit))
        try:
            return await self._checked(call, capability, payload, caller, publish)
        finally:
            shares.give_back(key_id)

    async def _checked(
        self,
        call: RouteCall,
        capability: str,
        payload: bytes,
        caller: Caller,
        publish: Publish | None,
    ) -> RouteAnswer:
        """An authenticated caller's request: parsed, checked, then routed."""
        try:
            if call.capability is None:
                raise InvalidRequest(
                    f"capability {capability!r} is not a safe name "
                    "(1-64 of a-z, 0-9, '_', '-', starting with a letter or digit)"
                )
            body = decode_object(payload, max_bytes=self._settings.max_payload_bytes)
            raw_id = body.get("request_id")
            call.request_id = raw_id if isinstance(raw_id, str) and raw_id else None
            request = parse(RouteRequest, body)
        except CAIOError as exc:
            await self._audit.record(call.record("invalid", "invalid", error=exc.to_error()))
            return error_reply(exc, call.request_id)

        call.request_id = request.request_id or new_request_id()
        check = RouteCheck(caller, capability, request, call.request_id)
        try:
            await self._guard.admit(check)
        except AuditUnavailable:
            raise
        except CAIOError as exc:
            return await self._denied(call, exc)
        call.request = check.request
        relay = None
        if check.request.stream and publish is not None:
            relay = StreamRelay(publish, call.started, call.request_id)
        return await self._route(call, capability, check.request, check.service_filter, relay)

    async def _failed_unexpectedly(self, call: RouteCall, exc: Exception) -> ErrorReply:
        """A failure no step answered: ``internal`` (or its own code), and a record of it."""
        if isinstance(exc, CAIOError):
            error = exc
            log.warning("route_failed", request_id=call.request_id, error=exc.message)
        else:
            log.exception("route_failed", request_id=call.request_id)
            error = CAIOError(
                f"internal error ({type(exc).__name__}); the router logged it", retryable=True
            )
        try:
            await self._audit.record(call.record("route", "error", error=error.to_error()))
        except AuditUnavailable as audit_error:
            return error_reply(audit_error, call.request_id)
        return error_reply(error, call.request_id)

    def decide(
        self,
        capability: str,
        request: RouteRequest,
        permitted: Callable[[str], bool] | None = None,
    ) -> Decision:
        """Who gets this request, best first: the routing decision alone, no I/O."""
        query = MatchQuery(
            capability=capability,
            requirements=tuple(request.requirements),
            guarantees=request.guarantees,
            constraints=request.constraints,
            permitted=permitted,
        )
        started = time.perf_counter()
        decision = match(
            self._catalog,
            query,
            self._unavailable_for(request.guarantees.max_p95_latency_ms),
            limit=self._settings.max_candidates,
            lagging=self._health.violating,
        )
        if self.metrics is not None:
            self.metrics.decided(time.perf_counter() - started)
        return decision

    def _unavailable_for(self, max_p95_ms: float | None) -> Callable[[str], Exclusion | None]:
        """Live and circuit closed; and, if the caller asked for a p95, delivering it."""
        health = self._health
        if max_p95_ms is None:
            return health.unavailable

        def unavailable(service_id: str) -> Exclusion | None:
            exclusion = health.unavailable(service_id)
            if exclusion is not None:
                return exclusion
            observed = health.observed.observed_p95(service_id)
            if observed is not None and observed > max_p95_ms:
                return Exclusion(
                    "observed_p95", f"observed p95 {observed:g} ms is above {max_p95_ms:g} ms"
                )
            return None

        return unavailable

    async def _denied(self, call: RouteCall, error: CAIOError) -> ErrorReply:
        """Unauthenticated, forbidden or over a limit: audited, and no service is called."""
        try:
            await self._audit.record(call.record("denied", "denied", error=error.to_error()))
        except CAIOError as audit_error:
            return error_reply(audit_error, call.request_id)
        return error_reply(error, call.request_id)

    async def _route(
        self,
        call: RouteCall,
        capability: str,
        request: RouteRequest,
        permitted: Callable[[str], bool] | None,
        relay: StreamRelay | None = None,
    ) -> RouteAnswer:
        assert call.request_id is not None
        request_id = call.request_id
        deadline = time.monotonic() + request.timeout_ms / 1000
        with span("caio.decide", call.traceparent):
            decision = call.decision = self.decide(capability, request, permitted)

        if not decision.candidates:
            error = NoMatchingService(
                f"no available service satisfies this {capability} request",
                details={"excluded": decision.excluded, "excluded_codes": decision.excluded_codes},
                request_id=request_id,
            )
            await self._audit.record(call.record("route", "no_match", error=error.to_error()))
            return error_reply(error, request_id)

        best = decision.candidates[0]
        if request.dry_run:
            await self._audit.record(
                call.record("route", "ok", service_id=best.service_id, dry_run=True)
            )
            return DryRunReply(
                status="ok",
                dry_run=True,
                request_id=request_id,
                capability=capability,
                service_id=best.service_id,
                guarantees=best.entry.guarantees_json,
                candidates=[
                    Candidate(service_id=c.service_id, score=c.score) for c in decision.candidates
                ],
                excluded=decision.excluded,
                excluded_codes=decision.excluded_codes,
                registry_revision=decision.registry_revision,
                pool=decision.pool,
            )

        if self._cache is not None and request.cache and relay is None:
            ttl_s = best.entry.contract.cache_ttl_s
            if ttl_s is not None:
                key = cache_key(capability, request)
                hit = await self._cache.get(key)
                if hit is not None and any(
                    c.service_id == hit.get("service_id") for c in decision.candidates
                ):
                    return await self._answer_from_cache(call, capability, hit, decision)
                call.cache_key = key

        with span("caio.forward", call.traceparent) as traceparent:
            forwarded = await self._forwarder.forward(
                decision.candidates,
                capability=capability,
                request_id=request_id,
                context=request.context,
                caller=call.caller,
                deadline=deadline,
                relay=relay,
                traceparent=traceparent,
            )
        call.attempts = forwarded.attempts
        if relay is not None:
            call.stream = relay.summary()
        return await self._answer(call, capability, forwarded)

    async def _answer_from_cache(
        self, call: RouteCall, capability: str, hit: dict[str, Any], decision: Decision
    ) -> RouteAnswer:
        """A stored answer, audited as this request's decision, naming the original one."""
        assert call.request_id is not None
        service_id = str(hit["service_id"])
        entry = next(c.entry for c in decision.candidates if c.service_id == service_id)
        call.cache = {
            "hit": True,
            "original_request_id": hit.get("request_id"),
            "stored_at": hit.get("stored_at"),
        }
        await self._audit.record(call.record("route", "ok", service_id=service_id))
        return RouteReply(
            status="ok",
            request_id=call.request_id,
            service_id=service_id,
            capability=capability,
            guarantees=entry.guarantees_json,
            result=hit.get("result"),
            latency_ms=call.elapsed_ms(),
            attempts=[],
            cache=call.cache,
        )

    async def _answer(
        self, call: RouteCall, capability: str, forwarded: ForwardResult
    ) -> RouteAnswer:
        """The reply for a forwarded call, once its audit record is stored."""
        assert call.request_id is not None
        request_id = call.request_id
        if forwarded.reply is None or forwarded.winner is None:
            failure = forwarded.failure(request_id)
            outcome: AuditOutcome = "timeout" if failure.code == "timeout" else "error"
            last = forwarded.attempts[-1].service_id if forwarded.attempts else None
            await self._audit.record(
                call.record("route", outcome, service_id=last, error=failure.to_error())
            )
            return error_reply(failure, request_id, forwarded.attempts)

        winner = forwarded.winner
        latency_ms = call.elapsed_ms()
        call.price = price_of(winner.entry.contract.cost, forwarded.reply.get("usage"))
        won = forwarded.attempts[-1].latency_ms if forwarded.attempts else latency_ms
        call.verdict = verdict_of(winner.entry, capability, won or 0.0, call.stream is not None)
        record = self._audit.record(call.record("route", "ok", service_id=winner.service_id))
        if self._spend is not None and call.price and _budgeted(call.key):
            assert call.key is not None
            # Counted before the reply, alongside the audit write (two round trips at once).
            recorded, counted = await asyncio.gather(
                record, self._spend.add(call.key, call.price.amount), return_exceptions=True
            )
            if isinstance(recorded, BaseException):
                raise recorded  # no reply without its audit record
            if isinstance(counted, BaseException):  # answered and audited: still an answer
                log.error("spend_not_counted", request_id=request_id, error=repr(counted))
        else:
            await record
        reply = RouteReply(
            status="ok",
            request_id=request_id,
            service_id=winner.service_id,
            capability=capability,
            guarantees=winner.entry.guarantees_json,
            result=forwarded.reply.get("result"),
            latency_ms=latency_ms,
            attempts=forwarded.attempts,
        )
        if "usage" in forwarded.reply:
            reply.usage = forwarded.reply["usage"]
        if call.price is not None:
            reply.price = call.price_body()
        if call.verdict is not None:
            reply.verdict = call.verdict
        if call.cache_key is not None and self._cache is not None:
            ttl_s = winner.entry.contract.cache_ttl_s
            if ttl_s is not None and call.stream is None:
                answer: dict[str, Any] = {"service_id": winner.service_id}
                answer.update(request_id=request_id, result=reply.result)
                self._cache.store(call.cache_key, answer, ttl_s)
        if call.stream is not None:
            reply.stream = call.stream
        return reply


def _budgeted(key: ApiKey | None) -> bool:
    return key is not None and (
        key.policy.budget_per_day is not None or key.policy.budget_per_month is not None
    )
