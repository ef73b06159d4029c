"""How one hosted service instance connects and behaves; the contract says what it serves.

Kept apart from ``caio_integration.host`` so deployment code can build a
``HostConfig`` without the NATS machinery; ``caio_integration.host``
re-exports it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Self

from caio_integration.defaults import DEFAULT_NATS_URL
from caio_integration.subjects import DEFAULT_PREFIX, Subjects

__all__ = ["DEFAULT_NATS_URL", "HostConfig"]


@dataclass(frozen=True, slots=True)
class HostConfig:
    """Where the host connects, how it serves, and whether it registers the contract."""

    nats_url: str = DEFAULT_NATS_URL
    prefix: str = DEFAULT_PREFIX
    heartbeat_interval_s: float = 5.0
    instance_id: str | None = None  # None: "<service_id>-<8 hex>"
    drain_timeout_s: float = 10.0
    max_payload_bytes: int = 1 << 20
    # Requests executing at once in this instance; None: the contract's
    # constraints.max_concurrent_requests, else 64.
    max_concurrency: int | None = None
    # Extra keyword arguments for nats.connect (user, password, tls, ...);
    # they override the host's defaults.
    connect_options: Mapping[str, Any] = field(default_factory=dict)
    # Send the contract to <prefix>.registry.register on start. A refusal is
    # logged and serving goes on (a publisher may register it separately).
    register: bool = True
    replace: bool = False  # register with "replace": true (a changed contract)
    # The registering key; None: CAIO_API_KEY. Never printed.
    api_key: str | None = field(default=None, repr=False)
    # Put get_health_status() in each endpoint's $SRV.STATS data.
    health_in_stats: bool = True

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
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Self:
        """``CAIO_NATS_URL``, ``CAIO_PREFIX`` and ``CAIO_API_KEY`` from the environment,
        then ``overrides``."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {
            "nats_url": env.get("CAIO_NATS_URL") or DEFAULT_NATS_URL,
            "prefix": env.get("CAIO_PREFIX") or DEFAULT_PREFIX,
        }
        if env.get("CAIO_API_KEY"):
            values["api_key"] = env["CAIO_API_KEY"]
        values.update(overrides)
        return cls(**values)
