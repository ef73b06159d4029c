"""Forward a routed request to the ranked candidates until one answers.

Each attempt is a NATS request to ``<prefix>.svc.<service_id>.<capability>``.
An attempt fails on "no responders", an error reply, an unreadable reply or
its own timeout; the next candidate is then tried while the caller's
deadline leaves time. An attempt's timeout is:

    the last candidate:          all the time that is left
    a contract with a p95 bound: max(min_attempt_ms, p95_multiplier * p95), capped by what is left
    no p95 bound:                all the time that is left

so a service that hangs well past its own promise costs the caller that
promise, not the whole deadline, and fallback still has time to work.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from nats.aio.client import Client as NATS
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError

from broker.liveness import Liveness
from broker.matching import Candidate
from caio.errors import CAIOError, ServiceError, ServiceUnavailable, Timeout, error_class_for
from caio.jsonwire import dumps
from caio.subjects import Subjects

__all__ = ["Attempt", "ForwardResult", "ForwardSettings", "Forwarder"]


@dataclass(frozen=True, slots=True)
class ForwardSettings:
    min_attempt_ms: float = 250.0
    p95_multiplier: float = 2.0


@dataclass(slots=True)
class Attempt:
    service_id: str
    status: str  # "ok" | "error" | "timeout" | "no_responders"
    latency_ms: float
    error: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "service_id": self.service_id,
            "status": self.status,
            "latency_ms": self.latency_ms,
        }
        if self.error is not None:
            data["error"] = self.error
        return data


@dataclass(slots=True)
class ForwardResult:
    attempts: list[Attempt] = field(default_factory=list)
    reply: dict[str, Any] | None = None
    winner: Candidate | None = None

    def failure(self, request_id: str) -> CAIOError:
        """The error a caller gets when no attempt succeeded."""
        details = {"attempts": [a.to_json() for a in self.attempts]}
        statuses = {a.status for a in self.attempts}
        if not self.attempts or "timeout" in statuses:
            return Timeout(
                "no service answered within the request's timeout",
                details=details,
                request_id=request_id,
            )
        if statuses == {"no_responders"}:
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


class Forwarder:
    __slots__ = ("_liveness", "_nc", "_settings", "_subjects")

    def __init__(
        self, nc: NATS, subjects: Subjects, liveness: Liveness, settings: ForwardSettings
    ) -> None:
        self._nc = nc
        self._subjects = subjects
        self._liveness = liveness
        self._settings = settings

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
    ) -> ForwardResult:
        """Try candidates in order; ``deadline`` is a ``time.monotonic()`` instant."""
        outcome = ForwardResult()
        for index, candidate in enumerate(candidates):
            remaining = deadline - time.monotonic()
            if remaining <= 0.001:
                break
            timeout = self._attempt_timeout_s(candidate, remaining, index == len(candidates) - 1)
            body = dumps(
                {
                    "request_id": request_id,
                    "capability": capability,
                    "context": context,
                    "caller": caller,
                    # Absolute Unix ms: the worker stops once the router stops waiting.
                    "deadline_ms": time.time_ns() // 1_000_000 + int(timeout * 1000),
                }
            )
            started = time.perf_counter()
            subject = self._subjects.service(candidate.service_id, capability)
            try:
                msg = await self._nc.request(subject, body, timeout=timeout)
            except NoRespondersError:
                # Nobody subscribes: the heartbeats are stale. Stop choosing it until one comes.
                self._liveness.mark_down(candidate.service_id)
                outcome.attempts.append(
                    Attempt(candidate.service_id, "no_responders", _ms_since(started))
                )
                continue
            except NatsTimeoutError:
                outcome.attempts.append(
                    Attempt(
                        candidate.service_id,
                        "timeout",
                        _ms_since(started),
                        {"code": "timeout", "message": f"no reply within {timeout * 1000:.0f} ms"},
                    )
                )
                continue
            latency = _ms_since(started)
            reply = _decode_reply(msg.data)
            if reply.get("status") == "ok":
                outcome.attempts.append(Attempt(candidate.service_id, "ok", latency))
                outcome.reply = reply
                outcome.winner = candidate
                return outcome
            error = reply.get("error") if isinstance(reply.get("error"), dict) else None
            outcome.attempts.append(
                Attempt(
                    candidate.service_id,
                    "error",
                    latency,
                    error
                    or {"code": "service_error", "message": "the service sent an unreadable reply"},
                )
            )
        return outcome


def _decode_reply(data: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}
