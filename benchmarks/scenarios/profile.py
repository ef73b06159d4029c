"""Where a routed request's router CPU goes: cProfile of the router under load.

The router runs the overhead scenario's load (64 in flight) with cProfile
on (``roles/router.py --cprofile``); own time is grouped by where the code
lives; time in C functions (socket writes, orjson, pydantic's validators,
hashlib) counts for the code that called them. cProfile slows Python code
more than C, so the shares are a map of the cost, not a measurement of it:
the CPU per request comes from the unprofiled scenarios.
"""

from __future__ import annotations

import pstats
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.fleet import CAPABILITY, pool_ids
from benchmarks.harness import Budget, Stage
from benchmarks.scenarios.overhead import ECHO_BODY

__all__ = ["GROUPS", "run"]

# (label, path fragments): the first group whose fragment is in a function's file wins.
GROUPS: list[tuple[str, tuple[str, ...]]] = [
    (
        "CAIO: routing, matching, forwarding",
        (
            "caio_broker/routing",
            "caio_broker/routecall",
            "caio_broker/matching",
            "caio_broker/scoring",
            "caio_broker/forwarding",
            "caio_broker/catalog",
        ),
    ),
    (
        "CAIO: audit record and JetStream acks",
        ("caio_broker/audit", "caio_broker/replymux", "caio_integration/replymux"),
    ),
    ("CAIO: auth and route checks", ("caio_broker/auth",)),
    (
        "CAIO: health, limits, breakers",
        (
            "caio_broker/health",
            "caio_broker/observed",
            "caio_broker/liveness",
            "caio_broker/limits",
            "caio_broker/breaker",
        ),
    ),
    ("CAIO: router, wire (JSON, models)", ("caio_broker/router", "caio_integration/")),
    ("pydantic: request and reply models", ("pydantic",)),
    ("nats-py: protocol, publish, subscriptions", ("nats/",)),
    ("asyncio: event loop, tasks, queues", ("asyncio/", "uvloop")),
]


def _group(filename: str) -> str:
    for label, fragments in GROUPS:
        if any(fragment in filename for fragment in fragments):
            return label
    return "other"


def run(budget: Budget) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "router.prof"
        with Stage(budget) as stage:
            stage.role("echo", "--services", ",".join(pool_ids(1, 1)))
            router = stage.role(
                "router", "--contracts", "1", "--pool", "1", "--cprofile", str(path)
            )
            stage.load(
                f"{stage.prefix}.route.{CAPABILITY}",
                body=ECHO_BODY,
                headers={"Authorization": f"Bearer {router.info['api_key']}"},
                sequential=0,
                in_flight=(64,),
            )
            router.stop()  # the profile is written on the way out
        stats = pstats.Stats(str(path))
    shares: dict[str, float] = {}
    for (filename, _, _), (_, _, own, _, callers) in stats.stats.items():  # type: ignore[attr-defined]
        if filename != "~":
            shares[_group(filename)] = shares.get(_group(filename), 0.0) + own
            continue
        # A C function (socket write, orjson, a pydantic validator, dict.get...):
        # its time goes to the code that called it, per caller.
        for (caller_file, _, _), (_, _, caller_own, _) in callers.items():
            group = _group(caller_file)
            shares[group] = shares.get(group, 0.0) + caller_own
    total = sum(shares.values())
    ordered = sorted(shares.items(), key=lambda item: -item[1])
    return {"own_time_share": {label: round(t / total, 3) for label, t in ordered}}
