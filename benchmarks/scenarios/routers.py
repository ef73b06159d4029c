"""Scenario: routed throughput with one router process, then two, in one queue group.

Routers share nothing but NATS (registry and keys in KV, limits in
JetStream), so a second process should add throughput until the machine
runs out of cores. Here everything shares two cores: the load generator,
the echo service, nats-server and the routers. Rounds alternate one and two
routers (the second started and stopped each time) and the median of each
is reported, with the CPU each router spent per request it served.
"""

from __future__ import annotations

import statistics
from typing import Any

from benchmarks.fleet import CAPABILITY, pool_ids
from benchmarks.harness import Budget, Stage
from benchmarks.procs import cpu_seconds
from benchmarks.scenarios.overhead import ECHO_BODY

__all__ = ["run"]

IN_FLIGHT = 256  # enough requests in the air to keep two routers busy


def _throughput(stage: Stage, key: str) -> float:
    result = stage.load(
        f"{stage.prefix}.route.{CAPABILITY}",
        body=ECHO_BODY,
        headers={"Authorization": f"Bearer {key}"},
        sequential=0,
        in_flight=(IN_FLIGHT,),
    )
    return float(result["throughput"][0]["req_per_s"])


def run(budget: Budget) -> dict[str, Any]:
    one: list[float] = []
    two: list[float] = []
    with Stage(budget) as stage:
        stage.role("echo", "--services", ",".join(pool_ids(1, 1)))
        first = stage.role("router", "--contracts", "1", "--pool", "1")
        key = first.info["api_key"]
        for _ in range(max(1, budget.rounds)):
            one.append(_throughput(stage, key))
            second = stage.role("router", "--contracts", "1", "--pool", "1", "--join")
            before = (cpu_seconds(first.pid), cpu_seconds(second.pid))
            two.append(_throughput(stage, key))
            after = (cpu_seconds(first.pid), cpu_seconds(second.pid))
            second.stop()
    shares = [round(after[i] - before[i], 3) for i in range(2)]
    rps_one, rps_two = statistics.median(one), statistics.median(two)
    return {
        "in_flight": IN_FLIGHT,
        "rps_one_router": round(rps_one, 1),
        "rps_two_routers": round(rps_two, 1),
        "rounds": {"one": one, "two": two},
        "cpu_s_per_router_last_round": shares,
        "ratios": {"two_vs_one_router": round(rps_two / rps_one, 3)},
    }
