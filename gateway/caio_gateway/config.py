"""``GatewayConfig``: where the gateway listens, which NATS it speaks to, its limits.

Every field has a default a local ``caio up`` works with; ``from_env`` reads
the same ``CAIO_*`` variables as every other CAIO process (``CAIO_NATS_URL``,
``CAIO_PREFIX``, and the ``CAIO_NATS_*`` credentials of
``caio_integration.natsauth``), plus the gateway's own ``CAIO_GATEWAY_*``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from caio_integration.defaults import DEFAULT_NATS_URL
from caio_integration.natsauth import NatsCredentials
from caio_integration.subjects import DEFAULT_PREFIX

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "GatewayConfig"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
# NATS' default max_payload: a larger HTTP body could not become one request anyway.
# The router applies its own, smaller limit to route and registry bodies.
DEFAULT_MAX_BODY_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """How one gateway process runs (``dataclasses.replace`` derives another)."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    nats_url: str = DEFAULT_NATS_URL
    prefix: str = DEFAULT_PREFIX
    #: ``nats.connect`` options: credentials, TLS, inbox prefix (``NatsCredentials``).
    connect_options: Mapping[str, Any] = field(default_factory=dict)
    #: Seconds to wait for a registry, keys or jobs reply from the router.
    request_timeout_s: float = 10.0
    #: A route's ``timeout_ms`` when the caller gives none (OpenAI requests never do).
    route_timeout_ms: int = 30_000
    #: Largest request body read; beyond it the answer is ``payload_too_large`` (413).
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    #: Most audit records one ``GET /api/v1/audit`` page returns.
    audit_page_max: int = 500
    #: uvicorn's access log: one INFO line per request, so off unless asked for.
    access_log: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port {self.port} is not a TCP port")
        if self.max_body_bytes <= 0 or self.audit_page_max <= 0 or self.route_timeout_ms <= 0:
            raise ValueError("max_body_bytes, audit_page_max and route_timeout_ms must be > 0")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> GatewayConfig:
        """The configuration from ``CAIO_*`` variables; ``overrides`` (CLI flags) win.

        ``None`` overrides are ignored, so a CLI can pass its options as they are.
        """
        env = os.environ if env is None else env
        values: dict[str, Any] = {
            "nats_url": env.get("CAIO_NATS_URL") or DEFAULT_NATS_URL,
            "prefix": env.get("CAIO_PREFIX") or DEFAULT_PREFIX,
            "connect_options": NatsCredentials.from_env(env).connect_options(),
        }
        if env.get("CAIO_GATEWAY_HOST"):
            values["host"] = env["CAIO_GATEWAY_HOST"]
        if env.get("CAIO_GATEWAY_PORT"):
            values["port"] = int(env["CAIO_GATEWAY_PORT"])
        values.update({name: value for name, value in overrides.items() if value is not None})
        return cls(**values)
