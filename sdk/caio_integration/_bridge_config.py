"""How a bridge worker instance is configured, and what its handler returns.

Kept apart from ``caio_integration.bridge`` so the CLI and deployment code can build a
``WorkerConfig`` without the NATS machinery; ``caio_integration.bridge`` re-exports both.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from caio_integration.subjects import DEFAULT_PREFIX, Subjects

__all__ = ["DEFAULT_NATS_URL", "WorkResult", "WorkerConfig"]

DEFAULT_NATS_URL = "nats://127.0.0.1:4222"


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """How one worker instance connects and behaves; the contract says what it serves."""

    nats_url: str = DEFAULT_NATS_URL
    prefix: str = DEFAULT_PREFIX
    heartbeat_interval_s: float = 5.0
    instance_id: str | None = None  # None: "<service_id>-<8 hex>"
    drain_timeout_s: float = 10.0
    max_payload_bytes: int = 1 << 20
    # Handlers running at once in this instance; None: the contract's
    # constraints.max_concurrent_requests, else 64.
    max_concurrency: int | None = None
    # Extra keyword arguments for nats.connect (user, password, tls, ...);
    # they override the worker's defaults.
    connect_options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        Subjects(self.prefix)  # raises ValueError on an unsafe prefix
        if self.heartbeat_interval_s <= 0:
            raise ValueError("heartbeat_interval_s must be positive")
        if self.drain_timeout_s < 0:
            raise ValueError("drain_timeout_s must not be negative")
        if self.max_payload_bytes <= 0:
            raise ValueError("max_payload_bytes must be positive")
        if self.max_concurrency is not None and self.max_concurrency <= 0:
            raise ValueError("max_concurrency must be positive")
        if self.instance_id is not None and not 0 < len(self.instance_id) <= 128:
            raise ValueError("instance_id must be 1-128 characters")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> WorkerConfig:
        """``CAIO_NATS_URL`` and ``CAIO_PREFIX`` from the environment, then ``overrides``."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {
            "nats_url": env.get("CAIO_NATS_URL") or DEFAULT_NATS_URL,
            "prefix": env.get("CAIO_PREFIX") or DEFAULT_PREFIX,
        }
        values.update(overrides)
        return cls(**values)


@dataclass(frozen=True, slots=True)
class WorkResult:
    """What a handler returns: the reply's ``result`` and ``usage`` objects."""

    result: dict[str, Any]
    usage: dict[str, Any] = field(default_factory=dict)
