"""One route request on its way through the router: the value every step adds to.

Parse sets the request and its id, authentication the caller, matching the
decision, forwarding the attempts. The reply and the audit record are both
built from it, so a step never passes nine arguments to the next, and a
failure at any point can still be recorded with everything known so far.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from caio_broker.auth.keys import ApiKey
from caio_broker.matching import Decision
from caio_integration.pricing import Price
from caio_integration.tracing import trace_id
from caio_integration.wire import (
    Attempt,
    AuditKind,
    AuditOutcome,
    RouteRequest,
    StreamSummary,
    rfc3339_now,
)

__all__ = ["RouteCall", "attempt_json"]


def attempt_json(attempt: Attempt) -> dict[str, Any]:
    """An attempt as the wire carries it (what ``Attempt.to_json`` sends)."""
    body: dict[str, Any] = {
        "service_id": attempt.service_id,
        "status": attempt.status,
        "latency_ms": attempt.latency_ms,
    }
    if attempt.error is not None:
        body["error"] = attempt.error
    return body


@dataclass(slots=True)
class RouteCall:
    started: float  # time.perf_counter() when the request arrived
    capability: str | None  # None while the subject's capability is not a safe name
    caller: str | None = None
    request_id: str | None = None
    request: RouteRequest | None = None
    decision: Decision | None = None
    attempts: list[Attempt] = field(default_factory=list)
    stream: StreamSummary | None = None  # a streamed call's chunks, once forwarded
    traceparent: str | None = None  # the caller's W3C trace context, passed on to the worker
    key: ApiKey | None = None  # the caller's key, once authenticated (None: auth off)
    price: Price | None = None  # an answered call's price, when its contract states a cost
    verdict: dict[str, Any] | None = None  # an answered call against its contract
    cache_key: str | None = None  # the question, when its answer may be stored (caio_broker.cache)
    cache: dict[str, Any] | None = None  # an answer from the cache: whose it was

    def price_body(self) -> dict[str, Any]:
        """The price as the reply and the record carry it."""
        assert self.price is not None
        return self.price.to_json()

    @classmethod
    def arrived(cls, capability: str | None) -> RouteCall:
        return cls(time.perf_counter(), capability)

    def elapsed_ms(self) -> float:
        return round((time.perf_counter() - self.started) * 1000, 3)

    def record(
        self,
        kind: AuditKind,
        outcome: AuditOutcome,
        *,
        service_id: str | None = None,
        error: dict[str, Any] | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """The audit record of this call as it stands: the JSON object to store.

        Built as a plain object rather than an ``AuditRecord``, whose validation
        and serializer cost the route path about 8 µs a record against 1.6 µs
        (docs/benchmarks.md); the record's shape stays the model's, and
        tests/unit/test_route_records.py holds every shape built here to it.
        """
        record: dict[str, Any] = {
            "ts": rfc3339_now(),
            "kind": kind,
            "request_id": self.request_id,
            "caller": self.caller,
            "capability": self.capability,
            "service_id": service_id,
            "outcome": outcome,
            "decision": self.decision.to_json() if self.decision is not None else None,
            "latency_ms": self.elapsed_ms(),
            "error": error,
        }
        if self.attempts:
            record["attempts"] = [attempt_json(a) for a in self.attempts]
        if dry_run:
            record["dry_run"] = True
        if self.traceparent is not None:
            record["trace_id"] = trace_id(self.traceparent)
        if self.stream is not None:
            record["stream"] = self.stream.to_dict()
        if self.price is not None:
            record["price"] = self.price_body()
        if self.verdict is not None:
            record["verdict"] = self.verdict
        if self.cache is not None:
            record["cache"] = self.cache
        if self.request is not None and (requested := _requested(self.request)):
            record["requested"] = requested
        return record


def _requested(request: RouteRequest) -> dict[str, Any]:
    """What the caller asked for and was held to: the parts it gave (a key's policy may
    have narrowed the constraints), so a replay shows what the decision had to meet."""
    given = request.model_fields_set
    asked: dict[str, Any] = {}
    if "requirements" in given and request.requirements:
        asked["requirements"] = list(request.requirements)
    for name in ("guarantees", "constraints"):
        if name in given:
            value = getattr(request, name).model_dump(mode="json", exclude_none=True)
            if value:
                asked[name] = value
    return asked
