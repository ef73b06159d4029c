"""A hosted instance's liveness: its heartbeats, and the health that gates them.

The instance publishes ``<prefix>.heartbeat.<service_id>`` ``{"service_id",
"instance_id", "ts", "interval_s"}`` once it can serve and then every
``interval_s``; ``ts`` is RFC 3339 text and ``interval_s`` an extension, both
as the Synadia Agent Protocol draft sends them. Before each beat it asks
the service's ``get_health_status``: while that says ``unhealthy`` (or
raises), no beats go out, and on turning unhealthy one ``"stopping": true``
beat makes routers drop the instance at once instead of after their
liveness window. Its requests are refused
meanwhile (``_dispatch`` reads ``healthy``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from nats.aio.client import Client as NATS

from caio_integration._dispatch import NATS_FAILURES
from caio_integration._json import dumps
from caio_integration._log import Logger
from caio_integration.service import AIUCPService
from caio_integration.wire import rfc3339_now

__all__ = ["Liveness"]


class Liveness:
    """Heartbeats of one instance on the connection ``nc()`` returns, gated by health."""

    __slots__ = ("_beat", "_interval_s", "_log", "_nc", "_service", "_subject", "_task", "healthy")

    def __init__(
        self,
        service: AIUCPService,
        *,
        subject: str,
        instance_id: str,
        interval_s: float,
        nc: Callable[[], NATS | None],
        log: Logger,
    ) -> None:
        self._service = service
        self._subject = subject
        self._beat: dict[str, Any] = {
            "service_id": service.contract.id,
            "instance_id": instance_id,
            "interval_s": interval_s,
        }
        self._interval_s = interval_s
        self._nc = nc
        self._log = log
        self._task: asyncio.Task[None] | None = None
        self.healthy = True

    def health(self) -> dict[str, Any]:
        """The service's health report; a check that fails reads as unhealthy."""
        try:
            health = self._service.get_health_status()
        except Exception as exc:  # noqa: BLE001 - a failing check means unhealthy, not a crash
            self._log.exception("health_check_failed")
            return {"status": "unhealthy", "error": type(exc).__name__}
        return dict(health) if isinstance(health, dict) else {"status": "unhealthy"}

    async def beat(self) -> None:
        """One heartbeat, if healthy; a ``stopping`` one on turning unhealthy."""
        status = self.health().get("status")
        healthy = status != "unhealthy"
        if healthy != self.healthy:
            self.healthy = healthy
            if healthy:
                self._log.info("service_healthy_again")
            else:
                self._log.warning("service_unhealthy", status=status)
                await self.publish(stopping=True)
        if healthy:
            await self.publish()

    def start(self) -> None:
        """Beat every ``interval_s`` from now on (the first beat is the caller's)."""
        self._task = asyncio.create_task(
            self._loop(), name=f"heartbeat-{self._beat['instance_id']}"
        )

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def publish(self, *, stopping: bool = False) -> None:
        nc = self._nc()
        if nc is None:
            return
        beat: dict[str, Any] = {**self._beat, "ts": rfc3339_now()}
        if stopping:
            beat["stopping"] = True  # extension: routers drop this instance at once
        try:
            await nc.publish(self._subject, dumps(beat))
            if stopping:
                await nc.flush(timeout=2)
        except NATS_FAILURES as exc:
            # A missed beat is survivable (the window is 3 intervals); a
            # crashed heartbeat loop is not.
            self._log.warning("heartbeat_not_sent", error=repr(exc), stopping=stopping)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            await self.beat()
