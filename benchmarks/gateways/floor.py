"""The floor of CAIO's gateway path: the same three hops, doing nothing.

    HTTP client -> http_front -> audited forwarder -> http_back -> fake upstream

``http_front`` is a raw ASGI app on uvicorn that sends the body over NATS;
the audited forwarder stores an acked record in JetStream before it
answers, as the protocol requires of any router; ``http_back`` POSTs the
body upstream with aiohttp. No keys, no contract, no schema, no decision:
what is left is what three Python processes and five NATS hops cost. CAIO's
added latency against this floor's is what its own work costs; the floor's
against a one-process gateway (Portkey, TensorZero) is what the design
costs (benchmarks/roles/http_front.py and http_back.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from benchmarks.gateways.measure import Counts, _load
from benchmarks.gateways.peers import UPSTREAM_AUTH, UPSTREAM_MODEL, Peer
from benchmarks.gateways.server import free_port
from benchmarks.harness import Stage
from benchmarks.procs import CpuTimes

__all__ = ["floor_stack", "measure_floor"]


@contextlib.contextmanager
def floor_stack(stage: Stage, upstream: str) -> Iterator[Peer]:
    back = stage.role("http_back", "--upstream", upstream)
    audited = stage.role("forwarder", "--audited", "--target", f"{stage.prefix}.floorup")
    front = stage.role("http_front", "--port", str(free_port()), "--target", f"{stage.prefix}.afwd")
    yield Peer(
        name="floor",
        label="floor: the same three hops doing nothing",
        version="-",
        chat_url=front.info["url"],
        model=UPSTREAM_MODEL,
        headers=(UPSTREAM_AUTH,),
        pids={"front": front.pid, "forwarder": audited.pid, "back": back.pid},
    )


def measure_floor(stage: Stage, upstream: str, direct: Peer, counts: Counts) -> dict[str, Any]:
    """Latency (beside the direct path's, measured just before) and throughput with CPU."""
    with floor_stack(stage, upstream) as floor:
        sequential = ("--sequential", str(counts.sequential))
        before = _load(direct, counts, *sequential)["sequential"]
        latency = _load(floor, counts, *sequential)["sequential"]
        watched = dict(floor.pids)
        cpu = CpuTimes.start(watched)
        load = _load(
            floor, counts, "--inflight", str(counts.inflight), "--seconds", str(counts.seconds)
        )
        spent = cpu.since(watched)
    by_process = {name: round(spent[name] / load["requests"] * 1e6, 1) for name in watched}
    return {
        "p50_ms": latency["p50_ms"],
        "p99_ms": latency["p99_ms"],
        "added_p50_ms": round(latency["p50_ms"] - before["p50_ms"], 3),
        "rps": load["throughput"]["rps"],
        "rps_per_process": round(load["throughput"]["rps"] / len(watched), 1),
        "cpu_us_per_request": round(sum(by_process.values()), 1),
        "cpu_us_by_process": by_process,
    }
