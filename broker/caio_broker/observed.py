"""What each service actually delivers, as this router sees it.

Per service, a sliding window of the last ``samples`` attempts (and none
older than ``max_age_s``): latency percentiles, error rate and throughput.
A service whose observed p95 is above its contract's p95 bound, with at
least ``min_samples`` in the window, is *violating*: ranked after the
others, left out for callers asking for a tighter p95, and reported once
per change of state (``guarantee_violation`` audit records).
"""

from __future__ import annotations

import time
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["ObservedSettings", "ObservedStats", "ServiceStats"]


@dataclass(frozen=True, slots=True)
class ObservedSettings:
    samples: int = 200
    max_age_s: float = 300.0
    min_samples: int = 20


@dataclass(frozen=True, slots=True)
class ServiceStats:
    samples: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    error_rate: float
    throughput_per_s: float

    def to_json(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "p50_ms": self.p50_ms,
            "p95_ms": self.p95_ms,
            "p99_ms": self.p99_ms,
            "error_rate": self.error_rate,
            "throughput_per_s": self.throughput_per_s,
        }


def _percentile(ordered: list[float], fraction: float) -> float:
    # Nearest rank: the value below which `fraction` of the samples fall.
    index = max(0, min(len(ordered) - 1, int(fraction * len(ordered) + 0.999999) - 1))
    return round(ordered[index], 3)


class _Window:
    """One service's recent attempts, plus their latencies kept sorted.

    Keeping the latencies sorted as samples come and go (bisect, a C memmove
    for a 200-item list) makes a percentile an index lookup: matching asks
    for the p95 on every request, and sorting the window each time was a
    measurable share of a routed request's CPU.
    """

    __slots__ = ("errors", "ordered", "samples")

    def __init__(self) -> None:
        self.samples: deque[tuple[float, float, bool]] = deque()
        self.ordered: list[float] = []
        self.errors = 0

    def add(self, at: float, latency_ms: float, ok: bool, capacity: int) -> None:
        if len(self.samples) >= capacity:
            self._drop_oldest()
        self.samples.append((at, latency_ms, ok))
        insort(self.ordered, latency_ms)
        if not ok:
            self.errors += 1

    def expire(self, oldest: float) -> None:
        while self.samples and self.samples[0][0] < oldest:
            self._drop_oldest()

    def _drop_oldest(self) -> None:
        _, latency_ms, ok = self.samples.popleft()
        del self.ordered[bisect_left(self.ordered, latency_ms)]
        if not ok:
            self.errors -= 1


class ObservedStats:
    __slots__ = ("_clock", "_windows", "settings")

    def __init__(
        self, settings: ObservedSettings, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._windows: dict[str, _Window] = {}

    def record(self, service_id: str, latency_ms: float, ok: bool) -> None:
        window = self._windows.get(service_id)
        if window is None:
            window = self._windows[service_id] = _Window()
        window.add(self._clock(), latency_ms, ok, self.settings.samples)

    def _current(self, service_id: str) -> _Window | None:
        window = self._windows.get(service_id)
        if window is not None:
            window.expire(self._clock() - self.settings.max_age_s)
        return window

    def stats(self, service_id: str) -> ServiceStats:
        window = self._current(service_id)
        if window is None or not window.samples:
            return ServiceStats(0, None, None, None, 0.0, 0.0)
        count = len(window.samples)
        span = max(self._clock() - window.samples[0][0], 1.0)
        return ServiceStats(
            samples=count,
            p50_ms=_percentile(window.ordered, 0.50),
            p95_ms=_percentile(window.ordered, 0.95),
            p99_ms=_percentile(window.ordered, 0.99),
            error_rate=round(window.errors / count, 4),
            throughput_per_s=round(count / span, 3),
        )

    def observed_p95(self, service_id: str) -> float | None:
        """The p95 once there are enough samples to judge by, else None."""
        window = self._current(service_id)
        if window is None or len(window.samples) < self.settings.min_samples:
            return None
        return _percentile(window.ordered, 0.95)
