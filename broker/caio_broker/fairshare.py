"""A fair share of a router's in-flight requests for each API key.

A router holds up to ``max_in_flight`` route requests at once; past that,
new ones wait in its subscription. Without a share per key, one key
flooding a slow service fills every slot, and everyone else's requests
wait behind the flood until their deadlines pass (measured: a caller kept
3 of 24 answers while another key sent 10,000 requests). With one, a key
holds at most ``max_in_flight_per_key`` of them; a request over its share
is refused at once with ``rate_limited`` (audited like any denial), so the
flood slows itself and the other keys' requests find free slots.

The share is per router process: N routers in a queue group give a key up
to N shares, which is also how their capacity scales. Requests without a
key (a router run with ``--insecure-no-auth``) have no one to be fair
between and are not counted.
"""

from __future__ import annotations

from caio_integration.errors import RateLimited

__all__ = ["KeyShares", "over_share"]


class KeyShares:
    """Route requests in flight per API key, each key held to ``limit``."""

    __slots__ = ("_in_flight", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._in_flight: dict[str, int] = {}

    def take(self, key_id: str) -> bool:
        """Count one more request for ``key_id``, unless that would pass its share."""
        held = self._in_flight.get(key_id, 0)
        if held >= self.limit:
            return False
        self._in_flight[key_id] = held + 1
        return True

    def give_back(self, key_id: str) -> None:
        held = self._in_flight[key_id] - 1
        if held:
            self._in_flight[key_id] = held
        else:
            del self._in_flight[key_id]  # idle keys cost no memory

    def held(self, key_id: str) -> int:
        return self._in_flight.get(key_id, 0)


def over_share(name: str | None, limit: int) -> RateLimited:
    return RateLimited(
        f"key {name} already has {limit} requests in flight at this router, its share; "
        "retry when some have been answered",
        details={"retry_after_s": 0.1, "max_in_flight_per_key": limit},
    )
