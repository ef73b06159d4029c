"""A registry of generated contracts: ``pool`` offer the benchmark's capability.

The others spread over 50 unrelated capabilities, so a big registry is
mostly services a decision must not even look at. Scores differ (p95,
accuracy, cost vary), so ranking has real work to do.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CAPABILITY", "fleet", "pool_ids"]

CAPABILITY = "echo"


def pool_ids(total: int, pool: int) -> list[str]:
    return [f"echo-{i:05d}" for i in range(min(total, pool))]


def fleet(total: int, pool: int) -> list[dict[str, Any]]:
    """``total`` flat-dialect contracts; the first ``min(total, pool)`` offer ``echo``."""
    contracts = []
    echo_ids = pool_ids(total, pool)
    for i in range(total):
        if i < len(echo_ids):
            service_id, capabilities = echo_ids[i], [CAPABILITY]
        else:
            service_id, capabilities = f"other-{i:05d}", [f"skill-{i % 50:02d}"]
        contracts.append(
            {
                "service_id": service_id,
                "name": f"Benchmark service {i}",
                "version": "1.0.0",
                "capabilities": capabilities,
                "guarantees": {
                    "latency": {"p95_ms": 50 + (i * 37) % 900},
                    "accuracy": {"min": round(0.80 + (i * 13 % 19) / 100, 2)},
                },
                "constraints": {"max_tokens": 8192},
                "cost": {"per_token": round(0.0001 * (1 + i % 7), 6)},
            }
        )
    return contracts
