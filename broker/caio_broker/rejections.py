"""Messages the router received and could not use: counted, logged, shown.

A heartbeat the router cannot read would otherwise leave its service
"unavailable: no live worker" with nothing to say why (a worker in another
language sending a timestamp in an unexpected form). Each rejection is
counted by kind, logged at warning with its reason, and the last one per
service is kept until a good message of that kind arrives, so ``caio
services`` can say "last heartbeat rejected: ...".

Logging is bounded: a worker that keeps sending the same bad heartbeat is
logged once per reason and then at most once a minute, not every 5 s.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import structlog

from caio_broker.audit import rfc3339_now

__all__ = ["Rejection", "Rejections"]

log = structlog.get_logger("caio.router")

Kind = Literal["heartbeat", "registration"]
_RELOG_AFTER_S = 60.0
# Service ids come from subjects anyone may publish on: keep a bounded number.
_MAX_KEPT = 10_000


@dataclass(slots=True)
class Rejection:
    reason: str
    at: str  # RFC 3339, the router's clock
    count: int  # rejections of this kind for this service since the last good message
    logged_at: float

    def to_json(self) -> dict[str, Any]:
        return {"reason": self.reason, "at": self.at, "count": self.count}


class Rejections:
    __slots__ = ("_clock", "_last", "totals")

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._last: dict[tuple[Kind, str | None], Rejection] = {}
        self.totals: Counter[str] = Counter()

    def rejected(self, kind: Kind, service_id: str | None, reason: str, **context: Any) -> None:
        """Count one unusable message; log it unless the same one was logged lately."""
        self.totals[kind] += 1
        now = self._clock()
        key = (kind, service_id)
        last = self._last.get(key)
        if last is not None and last.reason == reason:
            last.count += 1
            last.at = rfc3339_now()
            if now - last.logged_at < _RELOG_AFTER_S:
                return
            last.logged_at = now
        else:
            count = last.count + 1 if last is not None else 1
            if last is None and len(self._last) >= _MAX_KEPT:
                del self._last[next(iter(self._last))]  # the oldest
            self._last[key] = last = Rejection(reason, rfc3339_now(), count, now)
        log.warning(
            f"{kind}_rejected",
            service_id=service_id,
            reason=reason,
            rejected=last.count,
            **context,
        )

    def accepted(self, kind: Kind, service_id: str) -> None:
        """A good message of this kind came: the service's last rejection is history."""
        if self._last and (kind, service_id) in self._last:
            del self._last[(kind, service_id)]

    def last(self, kind: Kind, service_id: str) -> Rejection | None:
        return self._last.get((kind, service_id))

    def to_json(self) -> dict[str, int]:
        return {"heartbeat": self.totals["heartbeat"], "registration": self.totals["registration"]}
