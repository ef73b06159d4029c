"""Forward a routed request to the ranked candidates until one answers.

Each attempt is a NATS request to ``<prefix>.svc.<service_id>.<capability>``.
An attempt fails on "no responders", an error reply, an unreadable reply,
a success that is not one (no object ``result``, or a result that breaks the
capability's output schema in the contract) or its own timeout; the next
candidate is then tried while the caller's deadline leaves time. An attempt's timeout is:

    the last candidate:          all the time that is left
    a contract with a p95 bound: max(min_attempt_ms, p95_multiplier * p95), capped by what is left
    no p95 bound:                all the time that is left

so a service that hangs well past its own promise costs the caller that
promise, not the whole deadline, and fallback still has time to work.

Before a call the service's contract limits are claimed (``caio_broker.limits``):
a saturated service is skipped (attempt status ``rate_limited``). Each
router keeps a circuit breaker per service (``caio_broker.breaker``; status
``circuit_open`` when it refuses). Services that answered a *retryable*
error get one more round after a short, jittered backoff, still within the
caller's deadline.
"""

from __future__ import annotations

import asyncio
import random
import time
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from jsonschema.protocols import Validator
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError

from caio_broker.breaker import Breakers, BreakerSettings
from caio_broker.limits import ServiceLimits
from caio_broker.liveness import Liveness
from caio_broker.matching import Candidate
from caio_broker.replymux import ReplyStream, Requester
from caio_broker.streaming import StreamBroken, StreamRelay, is_chunk
from caio_integration._json import dumps
from caio_integration.contracts import ServiceContract
from caio_integration.errors import (
    CAIOError,
    RateLimited,
    ServiceError,
    ServiceUnavailable,
    Timeout,
    error_class_for,
)
from caio_integration.subjects import Subjects
from caio_integration.tracing import TRACEPARENT
from caio_integration.wire import Attempt, AttemptStatus

__all__ = [
    "AttemptObserver",
    "ForwardGuards",
    "ForwardResult",
    "ForwardSettings",
    "Forwarder",
]


@dataclass(frozen=True, slots=True)
class ForwardSettings:
    min_attempt_ms: float = 250.0
    p95_multiplier: float = 2.0
    retry_rounds: int = 1  # extra rounds for services that answered a retryable error
    retry_backoff_s: float = 0.05


def _attempt(
    service_id: str, status: AttemptStatus, latency_ms: float, error: dict[str, Any] | None = None
) -> Attempt:
    """One attempt as the wire says it; ``error`` only when there is one."""
    if error is None:
        return Attempt(service_id=service_id, status=status, latency_ms=latency_ms)
    return Attempt(service_id=service_id, status=status, latency_ms=latency_ms, error=error)


@dataclass(slots=True)
class ForwardResult:
    attempts: list[Attempt] = field(default_factory=list)
    reply: dict[str, Any] | None = None
    winner: Candidate | None = None

    def failure(self, request_id: str) -> CAIOError:
        """The error a caller gets when no attempt succeeded."""
        details = {"attempts": [a.to_dict() for a in self.attempts]}
        statuses = {a.status for a in self.attempts}
        if not self.attempts or "timeout" in statuses:
            return Timeout(
                "no service answered within the request's timeout",
                details=details,
                request_id=request_id,
            )
        if statuses == {"rate_limited"}:
            soonest = min((a.error or {}).get("retry_after_s", 1.0) for a in self.attempts)
            return RateLimited(
                "every matching service is at its contract's limit; retry later",
                details={**details, "retry_after_s": soonest},
                request_id=request_id,
            )
        if statuses <= {"no_responders", "circuit_open"}:
            return ServiceUnavailable(
                "no worker is serving any matching service right now",
                details=details,
                request_id=request_id,
            )
        codes = {a.error.get("code") for a in self.attempts if a.error}
        last = self.attempts[-1].error or {}
        if len(codes) == 1 and statuses == {"error"}:
            # Every service said the same thing (e.g. the context is invalid): pass it on.
            cls = error_class_for(str(codes.pop()))
            return cls(
                str(last.get("message", "service error")), details=details, request_id=request_id
            )
        return ServiceError(
            "every matching service failed; see details.attempts",
            details=details,
            request_id=request_id,
        )


def _ms_since(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)


class StreamRequester(Requester, Protocol):
    """A requester that can also read several replies to one request (``ReplyMux``)."""

    def stream(
        self, subject: str, payload: bytes, headers: dict[str, Any] | None = None
    ) -> AbstractAsyncContextManager[ReplyStream]: ...


class AttemptObserver(Protocol):
    """Told the outcome of every attempt (observed latency, error rates)."""

    async def __call__(self, contract: ServiceContract, status: str, latency_ms: float) -> None: ...


async def _ignore(contract: ServiceContract, status: str, latency_ms: float) -> None:
    return None


@dataclass(slots=True)
class ForwardGuards:
    """What stands between a candidate and a call: its limits, its circuit, the observer."""

    limits: ServiceLimits | None = None
    breakers: Breakers = field(default_factory=lambda: Breakers(BreakerSettings()))
    observe: AttemptObserver = _ignore


class Forwarder:
    __slots__ = ("_guards", "_liveness", "_requests", "_settings", "_subjects")

    def __init__(
        self,
        requests: StreamRequester,
        subjects: Subjects,
        liveness: Liveness,
        settings: ForwardSettings,
        guards: ForwardGuards | None = None,
    ) -> None:
        self._requests = requests
        self._subjects = subjects
        self._liveness = liveness
        self._settings = settings
        self._guards = guards or ForwardGuards()

    def _attempt_timeout_s(self, candidate: Candidate, remaining_s: float, is_last: bool) -> float:
        p95 = candidate.entry.contract.p95_latency_ms
        if is_last or p95 is None:
            return remaining_s
        budget_ms = max(self._settings.min_attempt_ms, self._settings.p95_multiplier * p95)
        return min(remaining_s, budget_ms / 1000)

    async def forward(
        self,
        candidates: tuple[Candidate, ...],
        *,
        capability: str,
        request_id: str,
        context: dict[str, Any],
        caller: str | None,
        deadline: float,
        relay: StreamRelay | None = None,
        traceparent: str | None = None,
    ) -> ForwardResult:
        """Try candidates in order, then retry the retryable ones, within ``deadline``.

        ``deadline`` is a ``time.monotonic()`` instant. A retry round runs only
        for services that answered a retryable error, after a short backoff.
        With a ``relay`` the services are asked to stream; once one has sent a
        chunk, its outcome is the call's (no fallback after the first chunk).
        """
        outcome = ForwardResult()
        headers = {TRACEPARENT: traceparent} if traceparent is not None else None
        call = _Call(capability, request_id, context, caller, deadline, relay, headers)
        round_candidates = candidates
        for round_index in range(1 + self._settings.retry_rounds):
            if round_index:
                pause = self._settings.retry_backoff_s * (2 ** (round_index - 1))
                if deadline - time.monotonic() <= pause + 0.01:
                    break
                await asyncio.sleep(pause * (0.5 + random.random()))  # jitter: no herd
            retryable: list[Candidate] = []
            for index, candidate in enumerate(round_candidates):
                remaining = deadline - time.monotonic()
                if remaining <= 0.001:
                    return outcome
                is_last = index == len(round_candidates) - 1
                attempt, reply = await self._attempt(candidate, call, remaining, is_last)
                outcome.attempts.append(attempt)
                if reply is not None:
                    outcome.reply = reply
                    outcome.winner = candidate
                    return outcome
                if relay is not None and relay.committed:
                    return outcome
                if attempt.status == "error" and (attempt.error or {}).get("retryable"):
                    retryable.append(candidate)
            if not retryable:
                break
            round_candidates = tuple(retryable)
        return outcome

    async def _attempt(
        self, candidate: Candidate, call: _Call, remaining: float, is_last: bool
    ) -> tuple[Attempt, dict[str, Any] | None]:
        service_id = candidate.service_id
        guards = self._guards
        if not guards.breakers.allows(service_id):
            opened = {"code": "service_unavailable", "message": "circuit open"}
            return _attempt(service_id, "circuit_open", 0.0, opened), None
        timeout = self._attempt_timeout_s(candidate, remaining, is_last)
        admission = (
            await guards.limits.admit(candidate.entry.contract, timeout)
            if guards.limits is not None
            else None
        )
        if admission is not None and not admission.allowed:
            guards.breakers.released(service_id)
            limited: dict[str, Any] = {
                "code": "rate_limited",
                "message": admission.reason or "limit reached",
            }
            if admission.retry_after_s is not None:
                limited["retry_after_s"] = round(admission.retry_after_s, 3)
            return _attempt(service_id, "rate_limited", 0.0, limited), None
        try:
            attempt, reply = await self._call(candidate, call, timeout)
        finally:
            if admission is not None:
                guards.limits.release_soon(admission)  # type: ignore[union-attr]
        if reply is not None:
            guards.breakers.succeeded(service_id)
        else:
            guards.breakers.failed(service_id)
        await guards.observe(candidate.entry.contract, attempt.status, attempt.latency_ms or 0.0)
        return attempt, reply

    async def _call(
        self, candidate: Candidate, call: _Call, timeout: float
    ) -> tuple[Attempt, dict[str, Any] | None]:
        service_id = candidate.service_id
        request: dict[str, Any] = {
            "request_id": call.request_id,
            "capability": call.capability,
            "context": call.context,
            "caller": call.caller,
            # Absolute Unix ms: the worker stops once the router stops waiting.
            "deadline_ms": time.time_ns() // 1_000_000 + int(timeout * 1000),
        }
        if call.relay is not None:
            request["stream"] = True
        subject = self._subjects.service(service_id, call.capability)
        started = time.perf_counter()
        try:
            if call.relay is None:
                msg = await self._requests.request(subject, dumps(request), timeout, call.headers)
                reply = _decode_reply(msg.data)
            else:
                reply = await self._streamed(candidate, subject, dumps(request), timeout, call)
        except NoRespondersError:
            # Nobody subscribes: the heartbeats are stale. Stop choosing it until one comes.
            self._liveness.mark_down(service_id)
            return _attempt(service_id, "no_responders", _ms_since(started)), None
        except NatsTimeoutError:
            chunks = call.relay.chunks if call.relay is not None else 0
            waited = f"after {chunks} chunks" if chunks else f"within {timeout * 1000:.0f} ms"
            error: dict[str, Any] = {"code": "timeout", "message": f"no reply {waited}"}
            return _attempt(service_id, "timeout", _ms_since(started), error), None
        except StreamBroken as exc:
            return _attempt(service_id, "error", _ms_since(started), exc.to_error()), None
        streamed = call.relay is not None and call.relay.committed
        return self._judged(candidate, call.capability, _ms_since(started), reply, streamed)

    async def _streamed(
        self, candidate: Candidate, subject: str, payload: bytes, timeout: float, call: _Call
    ) -> dict[str, Any]:
        """Relay the worker's chunks as they come; return its final reply."""
        relay = call.relay
        assert relay is not None
        async with self._requests.stream(subject, payload, call.headers) as replies:
            reply = _decode_reply((await replies.next(timeout)).data)
            while is_chunk(reply):
                await relay.relay(candidate.service_id, reply)
                # Committed to this service: it may take all the time the caller gave.
                left = max(call.deadline - time.monotonic(), 0.001)
                reply = _decode_reply((await replies.next(left)).data)
        return reply

    def _judged(
        self,
        candidate: Candidate,
        capability: str,
        latency: float,
        reply: dict[str, Any],
        streamed: bool,
    ) -> tuple[Attempt, dict[str, Any] | None]:
        """The attempt a final reply makes: a usable success, or an error."""
        service_id = candidate.service_id
        if reply.get("status") == "ok":
            # A streamed answer's final result sums it up; the output schema is for
            # whole answers, so only its form is checked then.
            check = None if streamed else candidate.entry.output_checks.get(capability)
            problem = _result_problem(reply, check)
            if problem is None:
                return _attempt(service_id, "ok", latency), reply
            broken = {
                "code": "service_error",
                "message": problem,
                "details": {"reason": "invalid_result"},
            }
            return _attempt(service_id, "error", latency, broken), None
        sent = reply.get("error")
        unreadable = {"code": "service_error", "message": "the service sent an unreadable reply"}
        return _attempt(
            service_id, "error", latency, sent if isinstance(sent, dict) else unreadable
        ), None


@dataclass(frozen=True, slots=True)
class _Call:
    """What every attempt of one routed call sends, and where a stream goes."""

    capability: str
    request_id: str
    context: dict[str, Any]
    caller: str | None
    deadline: float  # time.monotonic()
    relay: StreamRelay | None
    headers: dict[str, str] | None  # the trace context, when the caller sent one


def _result_problem(reply: dict[str, Any], check: Validator | None) -> str | None:
    """Why an ``ok`` reply is not a success the caller can use, or None."""
    result = reply.get("result")
    if not isinstance(result, dict):
        shown = "no result" if result is None else f"a {type(result).__name__} as its result"
        return f"the service answered ok with {shown}; the protocol wants an object"
    if check is None:
        return None
    try:
        error = next(iter(check.iter_errors(result)), None)
    except Exception as exc:  # noqa: BLE001 - e.g. a $ref the schema cannot resolve
        return f"the result could not be checked against the contract's output schema: {exc!r}"
    if error is None:
        return None
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    return f"result{where}: {error.message} (the contract's output schema)"[:500]


def _decode_reply(data: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}
