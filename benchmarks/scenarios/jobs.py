"""Scenario 3: durable jobs (submit, acked, run, result stored) against routed requests.

The same router and echo service serve both: first routed requests at 64
in flight, then N jobs submitted with pipelined acks, timed from the first
submit to the last stored result. A job costs more than a route by design
(its JetStream write, the fetch, the stored result and the ack); the
ratio says how much.
"""

from __future__ import annotations

from typing import Any

from benchmarks.fleet import CAPABILITY, pool_ids
from benchmarks.harness import Budget, Stage
from benchmarks.procs import run_to_result
from benchmarks.scenarios.overhead import ECHO_BODY

__all__ = ["run"]


def run(budget: Budget) -> dict[str, Any]:
    with Stage(budget) as stage:
        stage.role("echo", "--services", ",".join(pool_ids(1, 1)))
        router = stage.role("router", "--contracts", "1", "--pool", "1")
        key = router.info["api_key"]
        routed = stage.load(
            f"{stage.prefix}.route.{CAPABILITY}",
            body=ECHO_BODY,
            headers={"Authorization": f"Bearer {key}"},
            sequential=0,
            in_flight=(64,),
        )
        jobs = run_to_result(
            "benchmarks.roles.jobs_load",
            [*stage.common(), "--api-key", key, "--jobs", str(budget.jobs)],
            watch={"router": router.pid},
        )
    if jobs["ok"] != jobs["jobs"]:
        raise RuntimeError(f"only {jobs['ok']} of {jobs['jobs']} jobs succeeded")
    routed_rps = routed["throughput"][0]["req_per_s"]
    return {
        "routed_rps_64": routed_rps,
        "jobs": jobs,
        "router_cpu_us_per_job": round(jobs["cpu_s"]["router"] / jobs["jobs"] * 1e6, 1),
        "ratios": {"jobs_vs_routed": round(jobs["jobs_per_s"] / routed_rps, 3)},
    }
