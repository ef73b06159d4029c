"""A CAIO router as production runs it: auth on, limits, audit acked before each reply.

It registers the generated fleet through the registry subject (the real
path, an admin key, 64 in flight), makes a caller key for the load, and
reports its memory once the registry is loaded.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import time

import nats
import orjson

from benchmarks.fleet import fleet, pool_ids
from benchmarks.procs import rss_mib
from benchmarks.roles._run import ready, role_main, role_parser
from caio.logs import configure_logging
from caio_broker.router import Router, RouterConfig
from caio_integration.gctune import settle_after_start


async def _register_fleet(router: Router, admin_key: str, total: int, pool: int) -> float:
    started = time.perf_counter()
    nc = await nats.connect(router.config.nats_url, name="bench-seed")
    headers = {"Authorization": f"Bearer {admin_key}"}
    subject = router.subjects.registry("register")
    slots = asyncio.Semaphore(64)

    async def register(contract: dict[str, object]) -> None:
        async with slots:
            msg = await nc.request(
                subject, orjson.dumps({"contract": contract}), timeout=30, headers=headers
            )
            if b'"registered"' not in msg.data:
                raise RuntimeError(f"registration failed: {msg.data[:300]!r}")

    await asyncio.gather(*(register(c) for c in fleet(total, pool)))
    await nc.drain()
    return time.perf_counter() - started


async def _wait_live(router: Router, service_ids: list[str], timeout_s: float = 15.0) -> None:
    """Until the echo role's heartbeats made every pool service available."""
    deadline = time.monotonic() + timeout_s
    while any(router.health.unavailable(s) for s in service_ids):
        if time.monotonic() > deadline:
            raise RuntimeError("the pool services never became available (no heartbeats?)")
        await asyncio.sleep(0.05)  # liveness has no change event; a bounded poll at start-up


async def run(args: argparse.Namespace, stop: asyncio.Event) -> None:
    configure_logging("warning", "json")
    router = Router(RouterConfig(nats_url=args.nats_url, prefix=args.prefix))
    await router.start()
    assert router.keys is not None
    if args.join:
        # Another router of the same queue group: the first one made the keys and
        # the fleet; this one serves from the shared registry and key bucket.
        await _wait_live(router, pool_ids(args.contracts, args.pool))
        ready({"services": len(router.catalog), "rss_mib": round(rss_mib(os.getpid()), 1)})
        await stop.wait()
        await router.stop()
        return
    admin_key, _ = await router.keys.create("bench-admin", "admin")
    caller_key, _ = await router.keys.create("bench-caller", "caller")
    seed_s = await _register_fleet(router, admin_key, args.contracts, args.pool)
    await _wait_live(router, pool_ids(args.contracts, args.pool))
    ready(
        {
            "api_key": caller_key,
            "admin_key": admin_key,
            "seed_s": round(seed_s, 2),
            "services": len(router.catalog),
            "rss_mib": round(rss_mib(os.getpid()), 1),
        }
    )
    settle_after_start()  # as `caio router` does once started
    # cProfile from here to the end: what the router did under the load only.
    profile = cProfile.Profile() if args.cprofile else None
    if profile is not None:
        profile.enable()
    await stop.wait()
    if profile is not None:
        profile.disable()
        profile.dump_stats(args.cprofile)
    await router.stop()


if __name__ == "__main__":
    parser = role_parser(__doc__ or "")
    parser.add_argument("--contracts", type=int, default=1)
    parser.add_argument("--pool", type=int, default=100)
    parser.add_argument("--cprofile", help="write a cProfile of the load phase to this file")
    parser.add_argument(
        "--join", action="store_true", help="serve beside a router that seeded the fleet"
    )
    role_main(parser, run)
