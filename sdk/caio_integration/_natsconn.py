"""Small things every CAIO NATS connection needs, in one place."""

from __future__ import annotations

from nats.aio.client import Client as NATS

__all__ = ["server_list", "subscriptions_settled"]


def server_list(url: str) -> list[str]:
    """``nats://a:4222,nats://b:4222`` as nats-py's list of seed servers."""
    return [part.strip() for part in url.split(",") if part.strip()]


async def subscriptions_settled(nc: NATS) -> None:
    """Return once the server has every subscription made so far on ``nc``.

    One flush is not enough with nats-py 2.16: ``flush()`` writes its PING
    straight to the socket while earlier SUBs may still wait in the client's
    pending buffer, so the PONG can come back before the server has seen
    them, and a request sent at once from another connection meets "no
    responders". The first flush makes the client write that buffer; the
    second PING travels behind the SUBs.
    """
    await nc.flush()
    await nc.flush()
