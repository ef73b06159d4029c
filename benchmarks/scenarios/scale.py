"""Scenarios 2 and 5: decision time, routed throughput and memory as the registry grows.

For each size the router starts on a fresh server and the fleet is
registered through ``caio.registry.register`` (the real path); ``pool``
of the services offer the requested capability, the rest 50 others.
Decision time (match and rank, no I/O) is timed in this process on
catalogs of each size (``benchmarks.decisions``); throughput and latency
go through NATS as in scenario 1. Memory is the router's RSS once loaded and
after the load, next to a bare forwarder process as the baseline.
"""

from __future__ import annotations

from typing import Any

from benchmarks.decisions import time_decisions
from benchmarks.fleet import CAPABILITY, pool_ids
from benchmarks.harness import Budget, Stage
from benchmarks.procs import rss_mib
from benchmarks.scenarios.overhead import ECHO_BODY

__all__ = ["run"]


def _one_size(budget: Budget, total: int) -> dict[str, Any]:
    with Stage(budget) as stage:
        stage.role("echo", "--services", ",".join(pool_ids(total, budget.pool)))
        forwarder = stage.role("forwarder")
        router = stage.role("router", "--contracts", str(total), "--pool", str(budget.pool))
        info = router.info
        routed = stage.load(
            f"{stage.prefix}.route.{CAPABILITY}",
            body=ECHO_BODY,
            headers={"Authorization": f"Bearer {info['api_key']}"},
            in_flight=(64,),
        )
        return {
            "contracts": total,
            "register_s": info["seed_s"],
            "p50_ms": routed["sequential"]["p50_ms"],
            "rps_64": routed["throughput"][0]["req_per_s"],
            "rss_mib_loaded": info["rss_mib"],
            "rss_mib_after_load": round(rss_mib(router.pid), 1),
            "forwarder_rss_mib": round(rss_mib(forwarder.pid), 1),
        }


def run(budget: Budget) -> dict[str, Any]:
    decisions = time_decisions(budget.scale_sizes, budget.pool, rounds=2 if budget.quick else 5)
    sizes = [{**_one_size(budget, total), **decisions[total]} for total in budget.scale_sizes]
    small, large = sizes[0], sizes[-1]
    per_contract_kib = (
        (large["rss_mib_loaded"] - small["rss_mib_loaded"])
        * 1024
        / (large["contracts"] - small["contracts"])
    )
    return {
        "sizes": sizes,
        "ratios": {
            "decision_largest_vs_smallest": round(
                large["decision_us_p50"] / small["decision_us_p50"], 3
            ),
            "rps_largest_vs_smallest": round(large["rps_64"] / small["rps_64"], 3),
            "rss_largest_vs_smallest": round(large["rss_mib_loaded"] / small["rss_mib_loaded"], 3),
            "rss_smallest_vs_forwarder": round(
                small["rss_mib_loaded"] / small["forwarder_rss_mib"], 3
            ),
        },
        "rss_kib_per_contract": round(per_contract_kib, 2),
    }
