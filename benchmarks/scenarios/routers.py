"""Scenario: routed throughput with 1, 2 and 4 router processes in one queue group.

Routers share nothing but NATS (registry and keys in KV, limits in
JetStream), so more processes should add throughput until the machine runs
out of cores; that is what `caio router --processes N` is for. Here
everything shares the machine: the load generator, the echo service,
nats-server and the routers. Each round measures every count in turn (the
extra routers joining the first's registry and keys, then stopped), and the
median of the rounds is reported, with how busy the machine's cores were
during each run (the bound on one machine) and the CPU the routers spent per
request.
"""

from __future__ import annotations

import os
import statistics
from typing import Any

from benchmarks.fleet import CAPABILITY, pool_ids
from benchmarks.harness import Budget, Stage
from benchmarks.procs import MachineLoad, RoleProcess, cpu_seconds
from benchmarks.scenarios.overhead import ECHO_BODY

__all__ = ["COUNTS", "run"]

IN_FLIGHT = 256  # enough requests in the air to keep several routers busy
COUNTS = (1, 2, 4)


def _measure(stage: Stage, key: str, routers: list[RoleProcess]) -> dict[str, float]:
    pids = [router.pid for router in routers]
    before = sum(cpu_seconds(pid) for pid in pids)
    with MachineLoad() as machine:
        result = stage.load(
            f"{stage.prefix}.route.{CAPABILITY}",
            body=ECHO_BODY,
            headers={"Authorization": f"Bearer {key}"},
            sequential=0,
            in_flight=(IN_FLIGHT,),
        )
    point = result["throughput"][0]
    router_cpu_s = sum(cpu_seconds(pid) for pid in pids) - before
    # Router CPU is over the whole load run, so per request it is divided by
    # every request the run sent: the timed ones and the warm-up.
    sent = int(point["completed"]) + stage.budget.warmup
    return {
        "req_per_s": float(point["req_per_s"]),
        "machine_busy": machine.steady(),
        "router_cpu_us_per_req": router_cpu_s / max(1, sent) * 1e6,
    }


def _median_point(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def run(budget: Budget) -> dict[str, Any]:
    rounds: dict[int, list[dict[str, float]]] = {n: [] for n in COUNTS}
    with Stage(budget) as stage:
        stage.role("echo", "--services", ",".join(pool_ids(1, 1)))
        first = stage.role("router", "--contracts", "1", "--pool", "1")
        key = first.info["api_key"]
        for _ in range(max(1, budget.rounds)):
            for count in COUNTS:
                extra = [
                    stage.role("router", "--contracts", "1", "--pool", "1", "--join")
                    for _ in range(count - 1)
                ]
                rounds[count].append(_measure(stage, key, [first, *extra]))
                for router in extra:
                    router.stop()
    points = {n: _median_point(runs) for n, runs in rounds.items()}
    one = points[1]["req_per_s"]
    return {
        "in_flight": IN_FLIGHT,
        "cores": os.cpu_count(),
        "points": {
            str(n): {
                "routers": n,
                "req_per_s": round(p["req_per_s"], 1),
                "vs_one": round(p["req_per_s"] / one, 3),
                "machine_busy_pct": round(100 * p["machine_busy"], 1),
                "router_cpu_us_per_req": round(p["router_cpu_us_per_req"], 1),
            }
            for n, p in points.items()
        },
        "rounds": {str(n): [round(r["req_per_s"], 1) for r in runs] for n, runs in rounds.items()},
        "ratios": {
            "two_vs_one_router": round(points[2]["req_per_s"] / one, 3),
            "four_vs_one_router": round(points[4]["req_per_s"] / one, 3),
        },
    }
