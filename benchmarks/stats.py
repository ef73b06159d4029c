"""Percentiles the way every report here states them."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["percentile", "summarize"]


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values (q in 0..100)."""
    if not sorted_values:
        raise ValueError("no values")
    rank = min(max(1, math.ceil(q / 100 * len(sorted_values))), len(sorted_values))
    return sorted_values[rank - 1]


def summarize(latencies_ms: list[float]) -> dict[str, Any]:
    ordered = sorted(latencies_ms)
    return {
        "n": len(ordered),
        "p50_ms": round(percentile(ordered, 50), 4),
        "p90_ms": round(percentile(ordered, 90), 4),
        "p99_ms": round(percentile(ordered, 99), 4),
    }
