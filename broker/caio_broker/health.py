"""Can this service be used now, and is it keeping its promises?

One place for what the router knows about a service beyond its contract:
live workers (heartbeats), this router's circuit for it, and its observed
latency against the contract's p95 bound. Matching asks ``unavailable``;
ranking asks ``violating``; ``caio.registry.stats`` shows all of it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from caio_broker.breaker import Breakers
from caio_broker.liveness import Liveness
from caio_broker.matching import Exclusion
from caio_broker.observed import ObservedStats
from caio_broker.rejections import Rejections
from caio_integration.contracts import ServiceContract

__all__ = ["ServiceHealth"]

OK_STATUSES = frozenset({"ok"})
# Attempts that say nothing about the service's speed: it was never called.
NOT_CALLED = frozenset({"rate_limited", "circuit_open", "no_responders"})

# The texts keep the words earlier releases printed ("unavailable: ...").
NO_LIVE_WORKER = Exclusion("unavailable", "unavailable: no live worker")
CIRCUIT_OPEN = Exclusion("circuit_open", "unavailable: circuit open after repeated failures")

ViolationReporter = Callable[[str, bool, dict[str, Any]], Awaitable[None]]


class ServiceHealth:
    __slots__ = ("_report", "_violating", "breakers", "liveness", "observed", "rejections")

    def __init__(
        self,
        liveness: Liveness,
        breakers: Breakers,
        observed: ObservedStats,
        report: ViolationReporter | None = None,
    ) -> None:
        self.liveness = liveness
        self.breakers = breakers
        self.observed = observed
        self.rejections = Rejections()  # heartbeats and registrations it could not use
        self._report = report
        self._violating: set[str] = set()

    def unavailable(self, service_id: str) -> Exclusion | None:
        """Why matching must skip this service now, or None."""
        if not self.liveness.is_available(service_id):
            return NO_LIVE_WORKER
        if self.breakers.state(service_id) == "open":
            return CIRCUIT_OPEN
        return None

    def violating(self, service_id: str) -> bool:
        return service_id in self._violating

    async def attempt_done(self, contract: ServiceContract, status: str, latency_ms: float) -> None:
        """Record one attempt; report a change of guarantee state once."""
        if status in NOT_CALLED:
            return
        service_id = contract.id
        self.observed.record(service_id, latency_ms, status in OK_STATUSES)
        bound = contract.p95_latency_ms
        observed = self.observed.observed_p95(service_id)
        if bound is None or observed is None:
            return
        now_violating = observed > bound
        if now_violating == (service_id in self._violating):
            return
        if now_violating:
            self._violating.add(service_id)
        else:
            self._violating.discard(service_id)
        if self._report is not None:
            details = {"observed_p95_ms": observed, "contract_p95_ms": bound}
            await self._report(service_id, now_violating, details)

    def stats(self, contract: ServiceContract) -> dict[str, Any]:
        service_id = contract.id
        # "unmeasured" (an extension value): too few recent attempts to judge the
        # p95 bound (ObservedSettings.min_samples), so "kept" would be a guess.
        if self.violating(service_id):
            guarantee = "violated"
        elif self.observed.observed_p95(service_id) is None:
            guarantee = "unmeasured"
        else:
            guarantee = "kept"
        return {
            "service_id": service_id,
            "availability": self.liveness.availability(service_id),
            "instances": self.liveness.live_instances(service_id),
            "circuit": self.breakers.state(service_id),
            "guarantee": guarantee,
            "contract": {
                "p95_latency_ms": contract.p95_latency_ms,
                "max_concurrent_requests": contract.constraints.max_concurrent_requests,
                "rate_limit": (
                    contract.constraints.rate_limit.model_dump(exclude_none=True)
                    if contract.constraints.rate_limit
                    else None
                ),
            },
            "observed": self.observed.stats(service_id).to_json(),
        }
