"""Who is serving already: a router that starts asks, instead of waiting for heartbeats.

A router learns liveness from heartbeats, which come at least every 5 s, so
a router that just (re)started would call every service unavailable for up
to that long. Bridge workers are NATS micro services (ADR-32), so the router
sends one ``$SRV.PING`` at start and takes each CAIO worker that answers,
for its own subject prefix, as a heartbeat. Workers that are not micro
services (a plain subscriber in any language) are heard from at their next
heartbeat, as before.

Nobody knows how many services will answer a ping, so replies are taken
for a short window in the background; start-up does not wait for it.
"""

from __future__ import annotations

import asyncio
import contextlib

import orjson
import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from caio_broker.liveness import Liveness
from caio_integration.subjects import is_safe_token

__all__ = ["PING_SUBJECT", "discover_live_workers"]

log = structlog.get_logger("caio.router")

PING_SUBJECT = "$SRV.PING"


def _worker_of(data: bytes, prefix: str) -> tuple[str, str] | None:
    """``(service_id, instance_id)`` of a CAIO worker of this prefix, from its ping reply."""
    try:
        info = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    metadata = info.get("metadata") if isinstance(info, dict) else None
    if not isinstance(metadata, dict) or metadata.get("prefix") != prefix:
        return None  # not a CAIO worker, or one of another CAIO on this NATS
    service_id = metadata.get("service_id") or info.get("name")
    instance_id = metadata.get("instance_id") or info.get("id")
    if not is_safe_token(service_id) or not isinstance(instance_id, str) or not instance_id:
        return None
    return service_id, instance_id[:128]


async def discover_live_workers(nc: NATS, prefix: str, liveness: Liveness, window_s: float) -> int:
    """Ping every micro service; mark this prefix's workers live; return how many answered."""
    found = 0

    async def on_reply(msg: Msg) -> None:
        nonlocal found
        worker = _worker_of(msg.data, prefix)
        if worker is not None:
            liveness.beat(*worker)
            found += 1

    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox, cb=on_reply)
    try:
        await nc.publish(PING_SUBJECT, b"", reply=inbox)
        await asyncio.sleep(window_s)  # a scatter-gather: answers come until the window ends
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
    log.info("workers_discovered", instances=found)
    return found
