"""Which services have a live worker, from their heartbeats.

Workers publish ``<prefix>.heartbeat.<service_id>`` at start and every few
seconds; a service is available while any of its instances was heard from
within ``window_s``. A heartbeat with ``"stopping": true`` (a protocol
extension sent on graceful shutdown) removes its instance at once, so the
router stops choosing a worker that is draining instead of waiting 15 s.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

__all__ = ["Liveness"]


class Liveness:
    __slots__ = ("_clock", "_instances", "_waiters", "window_s")

    def __init__(self, window_s: float = 15.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s = window_s
        self._clock = clock
        self._instances: dict[str, dict[str, float]] = {}
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}

    def beat(self, service_id: str, instance_id: str, *, stopping: bool = False) -> None:
        instances = self._instances.setdefault(service_id, {})
        if stopping:
            instances.pop(instance_id, None)
        else:
            instances[instance_id] = self._clock()
            for waiter in self._waiters.pop(service_id, ()):
                if not waiter.done():
                    waiter.set_result(None)

    async def wait_available(self, service_id: str, timeout_s: float) -> bool:
        """Wait for a heartbeat from ``service_id``; False if none came in time."""
        if self.is_available(service_id):
            return True
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(service_id, []).append(waiter)
        try:
            await asyncio.wait_for(waiter, timeout_s)
        except TimeoutError:
            return False
        return True

    def mark_down(self, service_id: str) -> None:
        """Forget every instance: a forward met "no responders", so none is serving.

        The next heartbeat from a live instance makes the service available again.
        """
        self._instances.pop(service_id, None)

    def live_instances(self, service_id: str) -> int:
        instances = self._instances.get(service_id)
        if not instances:
            return 0
        oldest = self._clock() - self.window_s
        for instance_id in [i for i, seen in instances.items() if seen < oldest]:
            del instances[instance_id]
        return len(instances)

    def is_available(self, service_id: str) -> bool:
        # Asked for every candidate of every route: one live instance is enough,
        # and pruning is left to live_instances.
        instances = self._instances.get(service_id)
        if not instances:
            return False
        oldest = self._clock() - self.window_s
        return any(seen >= oldest for seen in instances.values())

    def availability(self, service_id: str) -> str:
        """``"available"`` or ``"unavailable"``, the protocol's words."""
        return "available" if self.is_available(service_id) else "unavailable"
