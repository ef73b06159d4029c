"""Decision time alone, for registries of several sizes, interleaved in one process.

The router's decision (``RouteHandler.decide``: match and rank, no I/O) runs
on a catalog filled the way a router fills it (each contract parsed and
put, every pool service heartbeating). Sizes are timed in alternating
rounds and the median of the rounds' medians is kept: on a shared 2-core
machine the first measurement of a process is often slower, and
alternating keeps that from deciding a ratio.
"""

from __future__ import annotations

import statistics
import time

from benchmarks.fleet import CAPABILITY, fleet, pool_ids
from caio_broker.breaker import Breakers, BreakerSettings
from caio_broker.catalog import Catalog
from caio_broker.health import ServiceHealth
from caio_broker.liveness import Liveness
from caio_broker.observed import ObservedSettings, ObservedStats
from caio_broker.routing import RouteHandler, RouteSettings
from caio_integration.contracts import parse_contract
from caio_integration.wire import RouteRequest, parse

__all__ = ["time_decisions"]


def _handler(total: int, pool: int) -> RouteHandler:
    catalog, liveness = Catalog(), Liveness()
    for revision, document in enumerate(fleet(total, pool), start=1):
        contract = parse_contract(document)
        catalog.put(contract, revision)
    for service_id in pool_ids(total, pool):
        liveness.beat(service_id, "bench")
    health = ServiceHealth(liveness, Breakers(BreakerSettings()), ObservedStats(ObservedSettings()))
    # decide() uses only the catalog, health and settings: no NATS, no audit
    return RouteHandler(catalog, health, None, None, None, RouteSettings())  # type: ignore[arg-type]


def _median_us(handler: RouteHandler, request: RouteRequest, count: int) -> float:
    took = []
    for _ in range(count):
        started = time.perf_counter_ns()
        handler.decide(CAPABILITY, request)
        took.append(time.perf_counter_ns() - started)
    return statistics.median(took) / 1000


def time_decisions(
    sizes: tuple[int, ...], pool: int, rounds: int = 5
) -> dict[int, dict[str, float]]:
    """Per size: median decision µs, and how many candidates and pool services."""
    request = parse(RouteRequest, {"context": {"x": 1}})
    handlers = {total: _handler(total, pool) for total in sizes}
    medians: dict[int, list[float]] = {total: [] for total in sizes}
    for _ in range(rounds):
        for total, handler in handlers.items():
            _median_us(handler, request, 500)  # warm
            medians[total].append(_median_us(handler, request, 3000))
    result = {}
    for total, handler in handlers.items():
        decision = handler.decide(CAPABILITY, request)
        result[total] = {
            "decision_us_p50": round(statistics.median(medians[total]), 2),
            "candidates": len(decision.candidates),
            "pool": decision.pool,
        }
    return result
