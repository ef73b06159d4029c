"""The load generator: sequential latency, then throughput at N requests in flight.

Runs as its own process so its CPU is accounted apart from what it
measures. Every reply is checked (a wrong reply counts as an error, not as
throughput). Prints ``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass
from typing import Any

import nats
from nats.aio.client import Client as NATS

from benchmarks.roles._run import role_main, role_parser
from benchmarks.stats import summarize


@dataclass(slots=True)
class Load:
    """One kind of request, sent again and again; a reply without ``expect`` is an error."""

    nc: NATS
    subject: str
    body: bytes
    headers: dict[str, str] | None
    expect: bytes
    errors: int = 0
    first_error: str | None = None

    async def one(self) -> None:
        msg = await self.nc.request(self.subject, self.body, timeout=30, headers=self.headers)
        if self.expect not in msg.data:
            self.errors += 1
            if self.first_error is None:
                self.first_error = msg.data[:300].decode(errors="replace")

    async def until_ok(self, timeout_s: float) -> None:
        """Retry one request until it succeeds: a just-started worker may not be
        known to the router yet (its first heartbeat is on its way)."""
        deadline = time.perf_counter() + timeout_s
        while True:
            msg = await self.nc.request(self.subject, self.body, timeout=30, headers=self.headers)
            if self.expect in msg.data:
                return
            if time.perf_counter() > deadline:
                raise RuntimeError(f"never answered well: {msg.data[:300]!r}")
            await asyncio.sleep(0.1)

    async def sequential(self, count: int) -> dict[str, Any]:
        latencies = []
        for _ in range(count):
            started = time.perf_counter()
            await self.one()
            latencies.append((time.perf_counter() - started) * 1000)
        return summarize(latencies)

    async def throughput(self, in_flight: int, seconds: float) -> dict[str, Any]:
        done = 0
        end = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < end:
                await self.one()
                done += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(in_flight)))
        elapsed = time.perf_counter() - started
        return {
            "in_flight": in_flight,
            "completed": done,
            "seconds": round(elapsed, 3),
            "req_per_s": round(done / elapsed, 1),
        }


async def run(args: argparse.Namespace, stop: asyncio.Event) -> dict[str, Any]:
    nc = await nats.connect(args.nats_url, name="bench-load")
    headers = dict(h.split(":", 1) for h in args.header) or None
    load = Load(nc, args.subject, args.body.encode(), headers, args.expect.encode())
    await load.until_ok(timeout_s=15)
    for _ in range(args.warmup):
        await load.one()
    result: dict[str, Any] = {}
    if args.sequential:
        result["sequential"] = await load.sequential(args.sequential)
    result["throughput"] = [
        await load.throughput(int(n), args.seconds) for n in args.in_flight.split(",") if n
    ]
    result["errors"] = load.errors
    result["first_error"] = load.first_error
    await nc.drain()
    return result


if __name__ == "__main__":
    parser = role_parser(__doc__ or "")
    parser.add_argument("--subject", required=True)
    parser.add_argument("--body", default="{}")
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--expect", default='"ok"')
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--sequential", type=int, default=1000)
    parser.add_argument("--in-flight", default="64,256")
    parser.add_argument("--seconds", type=float, default=3.0)
    role_main(parser, run)
